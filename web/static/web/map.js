/* The portfolio map: our vector tiles (Leaflet.VectorGrid) in thematic styles, a layer
 * switcher and legend, search, filters, drill-down from sites to floors, and the figures
 * inside a drawn polygon (Leaflet-Geoman).
 *
 * Extension points (see docs/web.md):
 *   GeoMap.styles[name] = (properties, zoom) => Leaflet path options, or [] to hide;
 *   GeoMap.popups[layerId] = (properties) => HTML;
 *   GeoMap.kinds[kind] = (layerConfig) => a Leaflet layer (built-in: "tiles", "geojson").
 * Layers themselves are listed on the server (web/maplayers.py) and arrive in the page's
 * config; a script loaded after this one may add styles and popups for them before the map
 * is built (on DOMContentLoaded).
 */
(function () {
  "use strict";
  const GA = window.GeoAsset;
  const cfg = JSON.parse(document.getElementById("map-config").textContent);
  const T = cfg.text;

  // Leaflet.VectorGrid 1.3 calls L.DomEvent.fakeStop, which Leaflet 1.8 renamed.
  if (!L.DomEvent.fakeStop) L.DomEvent.fakeStop = L.DomEvent.stopPropagation;

  const state = {company: "", use: "", status: "", category: "", level: 1, theme: "availability",
                 vacancyLoss: {}};

  const AVAILABILITY_COLORS = {vacant: "#2e7d32", reserved: "#f9a825", leased: "#1565c0",
                               expiring: "#e65100", not_leasable: "#9e9e9e"};
  // The units tiles carry `availability` (leasing/layers.py); the stored unit status stands
  // in for it only where leasing is not installed (a tile without the attribute).
  const STATUS_AVAILABILITY = {vacant: "vacant", reserved: "reserved", leased: "leased",
                               self_used: "not_leasable", unavailable: "not_leasable"};
  const EXPIRY_CLASSES = [[3, "#b71c1c", "months0_3"], [6, "#ef6c00", "months3_6"],
                          [12, "#fbc02d", "months6_12"], [Infinity, "#7cb342", "months12"]];
  const RENT_CLASSES = [[40, "#c6dbef", "rentLow"], [80, "#6baed6", "rentMid"],
                        [120, "#2171b5", "rentHigh"], [Infinity, "#08306b", "rentTop"]];
  const LOSS_CLASSES = [[0, "#e8f5e9", "lossNone"], [100000, "#ffcc80", "lossLow"],
                        [1000000, "#fb8c00", "lossMid"], [Infinity, "#bf360c", "lossHigh"]];
  const CANDIDATE_COLORS = {unit: "#6a1b9a", asset: "#d81b60", building: "#5d4037"};
  const HIDDEN = [];

  function availabilityOf(p) {
    return p.availability || STATUS_AVAILABILITY[p.status] || "not_leasable";
  }

  function monthsUntil(value) {
    if (value === undefined || value === null || value === "") return null;
    let time = typeof value === "number" ? (value > 1e11 ? value : value * 1000) : Date.parse(value);
    if (!isFinite(time)) return null;
    return (time - Date.now()) / (30.44 * 86400 * 1000);
  }

  function classify(classes, value) {
    for (const entry of classes) if (value <= entry[0]) return entry;
    return classes[classes.length - 1];
  }

  function visibleByFilters(p) {
    if (state.use && p.use !== undefined && p.use !== state.use) return false;
    if (state.level !== "" && p.level !== undefined && Number(p.level) !== Number(state.level)) return false;
    return true;
  }

  const polygon = (color, fill, opacity) => ({weight: 1, color: color, fill: true, fillColor: fill,
                                              fillOpacity: opacity === undefined ? 0.55 : opacity});

  const styles = {
    sites(p) {
      if (state.theme === "vacancy_loss") {
        const loss = state.vacancyLoss[p.id] || 0;
        return polygon("#37474f", classify(LOSS_CLASSES, loss)[1], 0.6);
      }
      return {weight: 2, color: "#0b3d60", fill: true, fillColor: "#0b3d60", fillOpacity: 0.06};
    },
    parcels: () => ({weight: 1, color: "#8d6e63", dashArray: "4 3", fill: false}),
    parks: () => polygon("#558b2f", "#9ccc65", 0.45),
    roads: (p) => ({weight: {expressway: 5, arterial: 4, secondary: 3}[p.grade] || 2,
                    color: "#90a4ae", fill: false}),
    buildings: () => polygon("#455a64", "#cfd8dc", 0.7),
    units(p) {
      if (!visibleByFilters(p)) return HIDDEN;
      const availability = availabilityOf(p);
      if (state.status && availability !== state.status) return HIDDEN;
      if (state.theme === "expiry") {
        const months = monthsUntil(p.lease_end);
        return months === null ? polygon("#78909c", "#eceff1", 0.5)
                               : polygon("#37474f", classify(EXPIRY_CLASSES, months)[1], 0.8);
      }
      if (state.theme === "rent") {
        const rent = Number(p.rent_sqm_month);
        return p.rent_sqm_month === undefined || !isFinite(rent) ? polygon("#78909c", "#eceff1", 0.5)
          : polygon("#37474f", classify(RENT_CLASSES, rent)[1], 0.8);
      }
      return polygon("#37474f", AVAILABILITY_COLORS[availability], 0.65);
    },
    assets(p) {
      if (state.level !== "" && p.level !== undefined && Number(p.level) !== Number(state.level)) return HIDDEN;
      if (state.category && !String(p.category_code || "").startsWith(state.category)) return HIDDEN;
      return {radius: 4, weight: 1, color: "#fff", fill: true, fillColor: "#d81b60", fillOpacity: 0.9};
    },
    candidates: (p) => ({radius: 7, weight: 2, color: CANDIDATE_COLORS[p.kind] || "#6a1b9a",
                         fill: true, fillColor: CANDIDATE_COLORS[p.kind] || "#6a1b9a", fillOpacity: 0.35}),
  };

  function row(label, value) {
    return value === undefined || value === null || value === "" ? ""
      : "<tr><th>" + GA.esc(label) + "</th><td>" + GA.esc(value) + "</td></tr>";
  }

  function url(template, id) { return template.replace("/0/", "/" + id + "/"); }

  const popups = {
    units(p) {
      const availability = availabilityOf(p);
      let html = "<strong>" + GA.esc(p.name) + "</strong> <small>" + GA.esc(p.code) + "</small><table>" +
        row(T.status, cfg.labels.availability[availability]) + row(T.use, cfg.labels.use[p.use]) +
        row(T.area, GA.fmt(p.gross_area, "decimal")) + row(T.tenant, p.tenant_name) +
        row(T.leaseEnd, p.lease_end) + row(T.rent, p.rent_sqm_month && GA.fmt(p.rent_sqm_month, "money")) +
        "</table>";
      html += '<a href="' + url(cfg.urls.floorPlan, p.building_id) + "?floor=" + p.floor_id + '">' + GA.esc(T.floorPlan) + "</a>";
      if (availability === "vacant") {
        html += ' · <a class="start-lease" href="' + cfg.urls.leaseNew + "?units=" + p.id + '">' + GA.esc(T.startLease) + "</a>";
      }
      return html;
    },
    assets: (p) => "<strong>" + GA.esc(p.name) + "</strong> <small>" + GA.esc(p.code) + "</small><table>" +
      row(T.status, cfg.labels.assetStatus[p.status]) + "</table>" +
      '<a href="' + url(cfg.urls.asset, p.id) + '">' + GA.esc(T.open) + "</a>",
    candidates: (p) => "<strong>" + GA.esc(p.name) + "</strong> <small>" + GA.esc(p.code) + "</small>" +
      "<p>" + GA.esc(T.reason) + ": " + GA.esc(p.reason) + "</p>" +
      (p.kind === "asset" ? '<a href="' + url(cfg.urls.asset, p.id) + '">' + GA.esc(T.open) + "</a>" : ""),
  };

  const GeoMap = window.GeoMap = {config: cfg, state: state, styles: styles, popups: popups,
                                  kinds: {}, layers: {}, stats: {features: {}, tiles: 0}, map: null};

  function count(layerId) {
    GeoMap.stats.features[layerId] = (GeoMap.stats.features[layerId] || 0) + 1;
  }

  function tileUrl(source) {
    const q = state.company ? "?company=" + encodeURIComponent(state.company) : "";
    return "/tiles/" + source + "/{z}/{x}/{y}.pbf" + q;
  }

  function firstDrawn() {
    GeoMap.stats.tiles += 1;
    if (GeoMap.stats.tiles === 1) {
      performance.mark("geoasset:first-tile");
      window.geoassetFirstTileMs = performance.now();
    }
  }

  // Once every tile layer shown at the first view has drawn its tiles: a mark for benchmarks.
  const waiting = new Set();
  function allDrawn(id) {
    waiting.delete(id);
    if (waiting.size === 0 && window.geoassetTilesLoadedMs === undefined) {
      performance.mark("geoasset:tiles-loaded");
      window.geoassetTilesLoadedMs = performance.now();
    }
  }

  GeoMap.kinds.tiles = function (layer) {
    const style = (p, z) => {
      const s = (GeoMap.styles[layer.style] || (() => ({})))(p, z);
      if (!(Array.isArray(s) && s.length === 0)) count(layer.id);
      return s;
    };
    const grid = L.vectorGrid.protobuf(tileUrl(layer.source), {
      minZoom: layer.min_zoom, maxZoom: 22, interactive: true,
      rendererFactory: L.canvas.tile,
      fetchOptions: {credentials: "same-origin"},
      vectorTileLayerStyles: {[layer.source]: style},
      getFeatureId: (f) => f.properties.id,
      pane: layer.id === "assets" ? "markerPane" : "overlayPane",
    });
    grid.on("tileload", firstDrawn);
    grid.once("load", () => allDrawn(layer.id));
    grid.on("click", (e) => onFeatureClick(layer, e.layer.properties, e.latlng));
    grid.refreshSource = () => grid.setUrl(tileUrl(layer.source));
    return grid;
  };

  // A GeoJSON layer, fetched when shown (with ?company= when the filter is set). With
  // `refresh_seconds` it is polled, only while the page is visible, and point features keep
  // their marker (matched by feature id) so they move instead of blinking.
  GeoMap.kinds.geojson = function (layer) {
    const styleOf = (p) => (GeoMap.styles[layer.style] || (() => ({})))(p);
    const markers = new Map();
    const group = L.geoJSON(null, {
      style: (f) => styleOf(f.properties),
      pointToLayer: (f, latlng) => L.circleMarker(latlng, styleOf(f.properties)),
      onEachFeature: (f, l) => {
        l.feature = f;
        l.on("click", (e) => onFeatureClick(layer, l.feature.properties, e.latlng));
      },
    });
    let timer = null;
    let busy = false;

    function update(data) {
      const features = data.features || [];
      if (!layer.refresh_seconds) {
        group.clearLayers();
        group.addData(data);
        features.forEach(() => count(layer.id));
        return;
      }
      const seen = new Set();
      for (const f of features) {
        const id = f.id !== undefined ? f.id : (f.properties || {}).id;
        const old = markers.get(id);
        const point = f.geometry && f.geometry.type === "Point";
        if (old && point) {
          const s = styleOf(f.properties);
          old.feature = f;
          old.setLatLng([f.geometry.coordinates[1], f.geometry.coordinates[0]]);
          if (old.setStyle && !(Array.isArray(s) && s.length === 0)) old.setStyle(s);
        } else {
          if (old) group.removeLayer(old);
          const added = L.geoJSON(f, {pointToLayer: (g, latlng) => L.circleMarker(latlng, styleOf(g.properties)),
                                      style: (g) => styleOf(g.properties)}).getLayers()[0];
          if (!added) continue;
          added.feature = f;
          added.on("click", (e) => onFeatureClick(layer, added.feature.properties, e.latlng));
          group.addLayer(added);
          markers.set(id, added);
        }
        seen.add(id);
        count(layer.id);
      }
      for (const [id, m] of markers) {
        if (!seen.has(id)) { group.removeLayer(m); markers.delete(id); }
      }
      GeoMap.stats.refreshed = GeoMap.stats.refreshed || {};
      GeoMap.stats.refreshed[layer.id] = (GeoMap.stats.refreshed[layer.id] || 0) + 1;
    }

    async function load() {
      if (busy) return;
      busy = true;
      const q = state.company ? (layer.source.includes("?") ? "&" : "?") + "company=" + state.company : "";
      try {
        update(await GA.json(layer.source + q));
      } catch (err) {
        showError(err);
      } finally {
        busy = false;
      }
    }

    function start() {
      stop();
      if (layer.refresh_seconds && !document.hidden) timer = setInterval(load, layer.refresh_seconds * 1000);
    }
    function stop() { if (timer) clearInterval(timer); timer = null; }
    function onVisibility() {
      if (document.hidden) { stop(); return; }
      load();
      start();
    }

    group.on("add", () => {
      load();
      start();
      if (layer.refresh_seconds) document.addEventListener("visibilitychange", onVisibility);
    });
    group.on("remove", () => {
      stop();
      document.removeEventListener("visibilitychange", onVisibility);
    });
    group.refreshSource = () => {
      if (layer.refresh_seconds) { markers.forEach((m) => group.removeLayer(m)); markers.clear(); }
      return load();
    };
    return group;
  };

  function showError(err) {
    const lines = err && err.body ? GA.errorLines(err.body) : [String(err)];
    const box = document.getElementById("polygon-figures");
    box.innerHTML = "<dt>" + GA.esc(T.error) + "</dt><dd>" + lines.map(GA.esc).join("<br>") + "</dd>";
  }

  // -- drill-down ------------------------------------------------------------------------------

  const crumbs = [];
  function renderCrumbs() {
    const nav = document.getElementById("crumbs");
    nav.innerHTML = "";
    const all = document.createElement("a");
    all.href = "#";
    all.textContent = T.city;
    all.addEventListener("click", (e) => { e.preventDefault(); crumbs.length = 0; fitExtent(); renderCrumbs(); });
    nav.appendChild(all);
    crumbs.forEach((c) => {
      nav.appendChild(document.createTextNode(" › "));
      const a = document.createElement("a");
      a.href = "#";
      a.textContent = c.name;
      a.addEventListener("click", (e) => { e.preventDefault(); GeoMap.map.fitBounds(c.bounds); });
      nav.appendChild(a);
    });
  }

  async function zoomToFeature(kind, id, name) {
    const data = await GA.json("/api/" + kind + "/" + id + "/");
    const bounds = L.geoJSON(data).getBounds();
    GeoMap.map.fitBounds(bounds, {maxZoom: 18});
    const level = kind === "sites" ? 0 : 1;
    crumbs.length = level;
    crumbs.push({name: name, bounds: bounds});
    renderCrumbs();
    return data;
  }

  async function buildingPopup(p, latlng) {
    const floors = await GA.json("/api/floors/?building=" + p.id + "&page_size=200&ordering=code");
    const list = (floors.features || []).map((f) => f.properties)
      .sort((a, b) => b.level - a.level)
      .map((f) => '<li><a href="' + url(cfg.urls.floorPlan, p.id) + "?floor=" + f.id + '">' +
                  GA.esc(f.name || f.level) + "</a> · " +
                  '<a href="#" class="show-level" data-level="' + f.level + '">' + GA.esc(T.showOnMap) + "</a></li>")
      .join("");
    const html = "<strong>" + GA.esc(p.name) + "</strong> <small>" + GA.esc(p.code) + "</small>" +
      "<p>" + GA.esc(T.floors) + "</p><ul class=\"floor-list\">" + list + "</ul>";
    const popup = L.popup({maxHeight: 260}).setLatLng(latlng).setContent(html).openOn(GeoMap.map);
    popup.getElement().querySelectorAll(".show-level").forEach((a) => a.addEventListener("click", (e) => {
      e.preventDefault();
      setLevel(a.dataset.level);
      zoomToFeature("buildings", p.id, p.name);
    }));
  }

  function setLevel(level) {
    state.level = level;
    document.querySelector("#filters [name=level]").value = level;
    restyle(["units", "assets"]);
  }

  function onFeatureClick(layer, p, latlng) {
    if (layer.id === "sites") {
      zoomToFeature("sites", p.id, p.name).catch(showError);
    } else if (layer.id === "buildings") {
      buildingPopup(p, latlng).catch(showError);
    } else if (GeoMap.popups[layer.id]) {
      L.popup().setLatLng(latlng).setContent(GeoMap.popups[layer.id](p)).openOn(GeoMap.map);
    }
  }

  // -- layers, themes, legend, filters -----------------------------------------------------------

  function restyle(ids) {
    for (const id of ids) {
      const l = GeoMap.layers[id];
      if (l && GeoMap.map.hasLayer(l)) l.redraw ? l.redraw() : l.refreshSource();
    }
  }

  function setVisible(id, on) {
    const l = GeoMap.layers[id];
    if (!l) return;
    if (on && !GeoMap.map.hasLayer(l)) l.addTo(GeoMap.map);
    if (!on && GeoMap.map.hasLayer(l)) GeoMap.map.removeLayer(l);
    const box = document.querySelector('#layer-switcher input[value="' + id + '"]');
    if (box) box.checked = on;
  }

  function legendItems() {
    const t = state.theme;
    if (t === "expiry") return EXPIRY_CLASSES.map((c) => [c[1], T[c[2]]]);
    if (t === "rent") return RENT_CLASSES.map((c) => [c[1], T[c[2]]]);
    if (t === "vacancy_loss") return LOSS_CLASSES.map((c) => [c[1], T[c[2]]]);
    if (t === "candidates") return [[CANDIDATE_COLORS.unit, T.candUnit], [CANDIDATE_COLORS.asset, T.candAsset],
                                   [CANDIDATE_COLORS.building, T.candBuilding]];
    return Object.entries(AVAILABILITY_COLORS).map(([k, color]) => [color, cfg.labels.availability[k]]);
  }

  function renderLegend() {
    document.getElementById("legend").innerHTML = legendItems().map(([color, label]) =>
      '<div><span class="swatch" style="background:' + color + '"></span>' + GA.esc(label) + "</div>").join("");
  }

  async function setTheme(theme) {
    state.theme = theme;
    const extra = document.getElementById("theme-extra");
    extra.innerHTML = "";
    setVisible("candidates", theme === "candidates");
    if (theme === "vacancy_loss") {
      try {
        const rows = await GA.json(cfg.urls.vacancyLoss);
        state.vacancyLoss = {};
        rows.forEach((r) => { state.vacancyLoss[r.id] = Number(r.vacancy_loss); });
      } catch (err) { showError(err); }
    }
    if (theme === "expiry") {
      try {
        const rows = await GA.json(cfg.urls.expiries);
        const max = Math.max(1, ...rows.map((r) => Number(r.area)));
        extra.innerHTML = "<p>" + GA.esc(T.expiryByMonth) + '</p><div class="bars">' + rows.map((r) =>
          '<div class="bar-row"><span>' + GA.esc(r.month) + '</span><span class="bar" style="width:' +
          (80 * Number(r.area) / max).toFixed(1) + '%"></span><span>' + GA.fmt(r.area) + "</span></div>").join("") +
          "</div>";
      } catch (err) { showError(err); }
    }
    renderLegend();
    restyle(["sites", "units"]);
  }

  function buildSwitcher() {
    const list = document.getElementById("layer-switcher");
    for (const layer of cfg.layers) {
      if (layer.group !== "layers") continue;
      const li = document.createElement("li");
      li.innerHTML = '<label><input type="checkbox" value="' + GA.esc(layer.id) + '"' +
        (layer.visible ? " checked" : "") + "> " + GA.esc(layer.title) + "</label>";
      li.querySelector("input").addEventListener("change", (e) => setVisible(layer.id, e.target.checked));
      list.appendChild(li);
    }
  }

  function bindFilters() {
    const form = document.getElementById("filters");
    form.addEventListener("submit", (e) => e.preventDefault());
    form.addEventListener("change", (e) => {
      const name = e.target.name;
      state[name] = e.target.value;
      if (name === "company") {
        for (const l of Object.values(GeoMap.layers)) if (l.refreshSource && GeoMap.map.hasLayer(l)) l.refreshSource();
      } else {
        restyle(["units", "assets"]);
      }
    });
  }

  // -- search ----------------------------------------------------------------------------------

  function bindSearch() {
    const form = document.getElementById("map-search");
    const results = document.getElementById("search-results");
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const q = form.q.value.trim();
      if (!q) return;
      try {
        const data = await GA.json(cfg.urls.search + "?q=" + encodeURIComponent(q));
        results.innerHTML = data.results.length ? "" : "<li>" + GA.esc(T.noResults) + "</li>";
        data.results.forEach((hit) => {
          const li = document.createElement("li");
          li.innerHTML = '<a href="#">' + GA.esc(hit.code) + " " + GA.esc(hit.name) + "</a>";
          li.querySelector("a").addEventListener("click", (ev) => { ev.preventDefault(); goTo(hit); });
          results.appendChild(li);
        });
      } catch (err) { showError(err); }
    });
  }

  function goTo(hit) {
    if (hit.level !== undefined && hit.level !== null) setLevel(hit.level);
    if (hit.bbox) {
      const b = hit.bbox;
      GeoMap.map.fitBounds([[b[1], b[0]], [b[3], b[2]]], {maxZoom: hit.kind === "site" ? 17 : 19});
    }
    if (hit.kind === "asset") {
      L.popup().setLatLng([hit.lat, hit.lon]).setContent(popups.assets({id: hit.id, code: hit.code, name: hit.name}))
        .openOn(GeoMap.map);
    }
  }

  // -- drawing a polygon -----------------------------------------------------------------------

  let drawn = null;
  function bindDrawing(map) {
    if (!map.pm) return;
    if (GA.locale === "zh-CN") map.pm.setLang("zh");
    map.pm.addControls({position: "topleft", drawMarker: false, drawCircleMarker: false,
                        drawPolyline: false, drawCircle: false, drawText: false, editMode: false,
                        dragMode: false, cutPolygon: false, rotateMode: false, removalMode: true,
                        drawRectangle: true, drawPolygon: true});
    map.on("pm:create", async (e) => {
      if (drawn) map.removeLayer(drawn);
      drawn = e.layer;
      await polygonFigures(drawn.toGeoJSON().geometry);
    });
    map.on("pm:remove", () => { drawn = null; document.getElementById("polygon-figures").innerHTML = ""; });
  }

  async function polygonFigures(geometry) {
    const box = document.getElementById("polygon-figures");
    try {
      const f = await GA.json(cfg.urls.polygonStats, {method: "POST", body: {geom: geometry}});
      const items = [[T.units, GA.fmt(f.units)], [T.area, GA.fmt(f.gross_area, "decimal")],
                     [T.leasable, GA.fmt(f.leasable_area, "decimal")], [T.leased, GA.fmt(f.leased_area, "decimal")],
                     [T.vacant, GA.fmt(f.vacant_area, "decimal")], [T.occupancyArea, GA.fmt(f.occupancy_by_area, "percent")],
                     [T.occupancyCount, GA.fmt(f.occupancy_by_count, "percent")],
                     [T.monthlyRent, GA.fmt(f.monthly_rent, "money")], [T.rentSqm, GA.fmt(f.rent_per_sqm_month, "money")],
                     [T.assets, GA.fmt(f.assets)], [T.assetCost, GA.fmt(f.asset_cost, "money")]];
      box.innerHTML = items.map(([k, v]) => "<dt>" + GA.esc(k) + "</dt><dd>" + GA.esc(v) + "</dd>").join("");
    } catch (err) { showError(err); }
  }
  GeoMap.polygonFigures = polygonFigures;

  // -- build -----------------------------------------------------------------------------------

  function fitExtent() {
    // ?at=lon,lat,zoom opens the map there (links from other pages, benchmarks).
    const at = (new URLSearchParams(location.search).get("at") || "").split(",").map(Number);
    if (at.length === 3 && at.every(isFinite)) {
      GeoMap.map.setView([at[1], at[0]], at[2]);
      return;
    }
    const e = cfg.extent;
    if (e) GeoMap.map.fitBounds([[e[1], e[0]], [e[3], e[2]]]);
    else GeoMap.map.setView([31.85, 117.25], 11);
  }

  function build() {
    const map = GeoMap.map = L.map("map", {maxZoom: 21, zoomControl: true, preferCanvas: true});
    map.attributionControl.setPrefix("Leaflet");  // plain text: no flag, no outside link
    if (cfg.baseTileUrl) {
      L.tileLayer(cfg.baseTileUrl, {maxZoom: 21, maxNativeZoom: 18, attribution: cfg.baseAttribution}).addTo(map);
    }
    fitExtent();
    for (const layer of cfg.layers) {
      const make = GeoMap.kinds[layer.kind];
      if (!make) continue;
      GeoMap.layers[layer.id] = make(layer);
      if (layer.visible && layer.kind === "tiles" && map.getZoom() >= layer.min_zoom) waiting.add(layer.id);
      if (layer.visible) GeoMap.layers[layer.id].addTo(map);
    }
    L.control.scale({imperial: false}).addTo(map);
    buildSwitcher();
    bindFilters();
    bindSearch();
    bindDrawing(map);
    renderLegend();
    renderCrumbs();
    document.getElementById("theme").addEventListener("change", (e) => setTheme(e.target.value));
    // On a phone the map comes first and the panel starts folded under it.
    if (window.matchMedia("(max-width: 720px)").matches) {
      document.getElementById("map-panel").classList.add("collapsed");
    }
    document.getElementById("panel-toggle").addEventListener("click", () => {
      document.getElementById("map-panel").classList.toggle("collapsed");
      setTimeout(() => map.invalidateSize(), 200);
    });
  }

  document.addEventListener("DOMContentLoaded", build);
})();
