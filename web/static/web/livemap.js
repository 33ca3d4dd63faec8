/* Tracking on the map (web/alerts.py): styles and popups of the geofences and live positions
 * layers, and the alerts panel. The panel asks for open alerts every few seconds while the
 * page is visible; an alert it has not seen before shows as a toast and joins the list; a
 * click on it zooms to where it happened; "Acknowledge" posts to the tracking API (CSRF token
 * from the cookie) and a 403 says the user may not. Loaded after map.js, before the map is
 * built (DOMContentLoaded). */
(function () {
  "use strict";
  const GA = window.GeoAsset;
  const GeoMap = window.GeoMap;
  const cfg = GeoMap.config.extras.alerts;
  if (!cfg) return;
  const T = cfg.text;
  const LEVEL_COLORS = {info: "#0277bd", warning: "#f9a825", critical: "#c62828"};

  GeoMap.styles.geofences = () => ({weight: 2, color: "#6a1b9a", dashArray: "6 4", fill: true,
                                    fillColor: "#ce93d8", fillOpacity: 0.12});
  GeoMap.styles.positions = (p) => ({radius: 6, weight: 2, color: "#fff", fill: true, fillOpacity: 0.95,
                                     fillColor: p.online === false ? "#9e9e9e" : "#00838f"});

  function row(label, value) {
    return value === undefined || value === null || value === "" ? ""
      : "<tr><th>" + GA.esc(label) + "</th><td>" + GA.esc(value) + "</td></tr>";
  }

  function when(value) {
    if (!value) return "";
    const d = new Date(value);
    return isFinite(d) ? d.toLocaleString(GA.locale) : String(value);
  }

  GeoMap.popups.positions = (p) => "<strong>" + GA.esc(p.name || p.code) + "</strong> <small>" + GA.esc(p.code) +
    "</small><table>" + row(T.speed, p.speed) + row(T.lastSeen, when(p.ts)) +
    row(T.online, p.online === false ? T.offline : T.online) + "</table>";
  GeoMap.popups.geofences = (p) => "<strong>" + GA.esc(p.name) + "</strong> <small>" + GA.esc(T.geofence) + "</small>";

  // -- the alerts panel --------------------------------------------------------------------------

  const seen = new Map();   // id -> alert feature
  let first = true;
  let timer = null;
  let marker = null;

  function mayChange(alert) {
    return cfg.mayChange.all || cfg.mayChange.ids.includes(alert.properties.company);
  }

  function latlngOf(alert) {
    const g = alert.geometry;
    return g && g.type === "Point" ? [g.coordinates[1], g.coordinates[0]] : null;
  }

  function zoomTo(alert) {
    const at = latlngOf(alert);
    if (!at || !GeoMap.map) return;
    GeoMap.map.setView(at, Math.max(GeoMap.map.getZoom(), 17));
    if (marker) GeoMap.map.removeLayer(marker);
    const p = alert.properties;
    marker = L.circleMarker(at, {radius: 10, weight: 3, color: LEVEL_COLORS[p.level] || "#c62828", fill: false})
      .addTo(GeoMap.map)
      .bindPopup("<strong>" + GA.esc(p.rule_name) + "</strong><p>" + GA.esc(p.message) + "</p>")
      .openPopup();
  }

  function item(alert) {
    const p = alert.properties;
    const li = document.createElement("li");
    li.className = "alert level-" + p.level;
    li.dataset.alert = alert.id;
    li.dataset.status = p.status;
    li.innerHTML = '<a href="#" class="alert-zoom"><span class="level">' + GA.esc(cfg.levels[p.level] || p.level) +
      "</span> " + GA.esc(p.rule_name) + "</a><br><small>" + GA.esc(p.subject) + " · " + GA.esc(when(p.opened_at)) +
      "</small><div class=\"alert-message\">" + GA.esc(p.message) + "</div>";
    li.querySelector(".alert-zoom").addEventListener("click", (e) => { e.preventDefault(); zoomTo(alert); });
    if (mayChange(alert)) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "acknowledge";
      button.textContent = T.acknowledge;
      button.addEventListener("click", () => acknowledge(alert, li, button));
      li.appendChild(button);
    }
    return li;
  }

  async function acknowledge(alert, li, button) {
    const error = document.getElementById("alerts-error");
    error.textContent = "";
    button.disabled = true;
    try {
      const url = cfg.actionUrl.replace("{id}", alert.id).replace("{action}", "acknowledge");
      const done = await GA.json(url, {method: "POST", body: {note: ""}});
      li.dataset.status = done.properties.status;
      button.replaceWith(Object.assign(document.createElement("span"), {className: "done", textContent: T.acknowledged}));
    } catch (err) {
      button.disabled = false;
      error.textContent = err.status === 403 ? T.forbidden : T.failed + " " + GA.errorLines(err.body || err).join("; ");
    }
  }

  function toast(alert) {
    const p = alert.properties;
    const box = document.getElementById("toasts");
    const div = document.createElement("div");
    div.className = "toast level-" + p.level;
    div.setAttribute("role", "alert");
    div.dataset.alert = alert.id;
    div.innerHTML = "<b>" + GA.esc(T.newAlert) + "</b> " + GA.esc(cfg.levels[p.level] || p.level) + " · " +
      GA.esc(p.rule_name) + "<br>" + GA.esc(p.message);
    div.addEventListener("click", () => { zoomTo(alert); div.remove(); });
    box.appendChild(div);
    setTimeout(() => div.remove(), 15000);
  }

  async function poll() {
    const error = document.getElementById("alerts-error");
    try {
      const data = await GA.json(cfg.alertsUrl);
      const list = document.getElementById("alerts-list");
      const open = data.features || [];
      const ids = new Set(open.map((a) => a.id));
      // Gone from the open list (acknowledged or closed elsewhere): drop, unless just done here.
      list.querySelectorAll("li[data-alert]").forEach((li) => {
        if (!ids.has(Number(li.dataset.alert)) && li.dataset.status === "open") { li.remove(); seen.delete(Number(li.dataset.alert)); }
      });
      for (const alert of open.slice().reverse()) {   // oldest first, so the newest ends on top
        if (seen.has(alert.id)) continue;
        seen.set(alert.id, alert);
        list.insertBefore(item(alert), list.firstChild);
        if (!first) toast(alert);
      }
      first = false;
      document.getElementById("alerts-count").textContent = String(list.querySelectorAll("li[data-status=open]").length);
      if (!list.children.length) list.innerHTML = '<li class="none">' + GA.esc(T.none) + "</li>";
      else list.querySelectorAll("li.none").forEach((li) => li.remove());
      error.textContent = "";
      GeoMap.stats.alertPolls = (GeoMap.stats.alertPolls || 0) + 1;
    } catch (err) {
      error.textContent = GA.errorLines(err.body || err).join("; ");
    }
  }

  function start() {
    if (timer) clearInterval(timer);
    timer = document.hidden ? null : setInterval(poll, cfg.refreshSeconds * 1000);
  }

  document.addEventListener("visibilitychange", () => {
    if (document.hidden) { if (timer) clearInterval(timer); timer = null; }
    else { poll(); start(); }
  });
  document.addEventListener("DOMContentLoaded", () => { poll(); start(); });
  GeoMap.alerts = {poll: poll, seen: seen};
})();
