/* A floor plan: the floor's units drawn as SVG in the building's local metres, coloured by
 * availability, with area, tenant, lease end and rent on hover; vacant units are picked
 * with a click and "Start a lease draft" opens the draft form with them. */
(function () {
  "use strict";
  const GA = window.GeoAsset;
  const cfg = JSON.parse(document.getElementById("plan-config").textContent);
  const T = JSON.parse(document.getElementById("plan-text").textContent);
  const COLORS = {vacant: "#2e7d32", reserved: "#f9a825", leased: "#1565c0", expiring: "#e65100",
                  not_leasable: "#9e9e9e"};
  const svg = document.getElementById("plan");
  const tip = document.getElementById("plan-tip");
  const chosen = new Map();
  const NS = "http://www.w3.org/2000/svg";

  function rings(geometry) {
    if (!geometry) return [];
    if (geometry.type === "Polygon") return [geometry.coordinates];
    if (geometry.type === "MultiPolygon") return geometry.coordinates;
    return [];
  }

  function pathData(geometry) {
    return rings(geometry).map((polygon) => polygon.map((ring) =>
      "M" + ring.map((p) => p[0].toFixed(3) + "," + (-p[1]).toFixed(3)).join("L") + "Z").join("")).join("");
  }

  function centre(geometry) {
    const pts = rings(geometry).flat(2);
    const xs = pts.map((p) => p[0]), ys = pts.map((p) => p[1]);
    return [(Math.min(...xs) + Math.max(...xs)) / 2, -(Math.min(...ys) + Math.max(...ys)) / 2];
  }

  function render(plan, units) {
    const info = new Map(units.map((u) => [u.id, u]));
    const [x0, y0, x1, y1] = plan.bbox || [0, 0, 10, 10];
    const pad = Math.max(x1 - x0, y1 - y0) * 0.03;
    svg.setAttribute("viewBox", [x0 - pad, -y1 - pad, x1 - x0 + 2 * pad, y1 - y0 + 2 * pad].join(" "));
    const fontSize = Math.max(x1 - x0, y1 - y0) / 45;
    for (const feature of plan.features) {
      const p = feature.properties;
      const path = document.createElementNS(NS, "path");
      path.setAttribute("d", pathData(feature.geometry));
      if (p.kind === "floor") {
        path.setAttribute("class", "outline");
        svg.insertBefore(path, svg.firstChild);
        continue;
      }
      const u = info.get(p.id) || {};
      const availability = u.availability || "not_leasable";
      path.setAttribute("class", "unit");
      path.setAttribute("fill", COLORS[availability]);
      path.setAttribute("fill-opacity", "0.7");
      path.dataset.id = p.id;
      path.dataset.code = p.code;
      path.dataset.availability = availability;
      path.setAttribute("tabindex", "0");
      path.setAttribute("aria-label", p.code + " " + T.availability[availability]);
      path.addEventListener("mousemove", (e) => showTip(e, p, u, availability));
      path.addEventListener("mouseleave", () => { tip.hidden = true; });
      path.addEventListener("click", () => toggle(path, p, u, availability));
      path.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") toggle(path, p, u, availability); });
      svg.appendChild(path);
      const [cx, cy] = centre(feature.geometry);
      const label = document.createElementNS(NS, "text");
      label.setAttribute("x", cx);
      label.setAttribute("y", cy);
      label.setAttribute("class", "label");
      label.setAttribute("font-size", fontSize.toFixed(2));
      label.textContent = p.number || p.name || p.code;
      svg.appendChild(label);
    }
  }

  function showTip(e, p, u, availability) {
    const rows = [[T.unit, p.code + " " + (p.name || "")], [T.status, T.availability[availability]],
                  [T.use, T.use_labels[p.use] || p.use], [T.area, GA.fmt(u.gross_area || p.gross_area, "decimal")],
                  [T.tenant, u.tenant_name], [T.leaseEnd, u.lease_end],
                  [T.rent, u.rent_sqm_month !== null && u.rent_sqm_month !== undefined ? GA.fmt(u.rent_sqm_month, "money") : null],
                  [T.daysVacant, u.days_vacant]];
    tip.innerHTML = rows.filter((r) => r[1] !== null && r[1] !== undefined && r[1] !== "")
      .map((r) => "<div><b>" + GA.esc(r[0]) + "</b> " + GA.esc(r[1]) + "</div>").join("");
    tip.style.left = (e.clientX + 12) + "px";
    tip.style.top = (e.clientY + 12) + "px";
    tip.hidden = false;
  }

  function toggle(path, p, u, availability) {
    const message = document.getElementById("plan-message");
    message.textContent = "";
    if (availability !== "vacant") {
      message.textContent = T.onlyVacant;
      return;
    }
    if (chosen.has(p.id)) {
      chosen.delete(p.id);
      path.classList.remove("selected");
    } else {
      chosen.set(p.id, p);
      path.classList.add("selected");
    }
    const list = document.getElementById("selected-units");
    list.innerHTML = [...chosen.values()].map((x) =>
      "<li>" + GA.esc(x.code) + " · " + GA.fmt(x.gross_area, "decimal") + " m²</li>").join("");
    document.getElementById("start-lease").disabled = chosen.size === 0;
  }

  document.getElementById("start-lease").addEventListener("click", () => {
    location.href = cfg.leaseNewUrl + "?units=" + [...chosen.keys()].join(",");
  });

  document.getElementById("plan-legend").innerHTML = Object.entries(COLORS).map(([k, c]) =>
    '<div><span class="swatch" style="background:' + c + '"></span>' + GA.esc(T.availability[k]) + "</div>").join("");

  Promise.all([GA.json(cfg.planUrl.replace("{id}", cfg.floor)), GA.json(cfg.unitsUrl.replace("{id}", cfg.floor))])
    .then(([plan, units]) => { render(plan, units.units); svg.dataset.ready = "1"; })
    .catch((err) => {
      document.getElementById("plan-message").textContent = GA.errorLines(err.body || err).join("; ");
    });
})();
