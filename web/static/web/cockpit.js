/* The cockpit: each widget section fetches /api/web/cockpit/<id>/ and draws its data by kind
 * ("kpis", "bar", "line", "pie"); a new widget defined on the server (web/cockpit.py) needs
 * nothing here. window.Cockpit.renderers[kind] may add a kind. */
(function () {
  "use strict";
  const GA = window.GeoAsset;
  const charts = new Map();
  const form = document.getElementById("cockpit-filter");

  function axisFormatter(format) {
    return (v) => format === "percent" ? GA.fmt(v, "percent") : GA.fmt(v, format === "money" ? "decimal" : "number");
  }

  const renderers = {
    kpis(el, data) {
      el.classList.remove("chart");
      el.className = "kpis";
      el.innerHTML = data.items.map((i) => '<div class="kpi"><div class="value">' + GA.esc(GA.fmt(i.value, i.format)) +
        '</div><div class="label">' + GA.esc(i.label) + "</div></div>").join("");
    },
    bar(el, data) {
      const axes = data.axes || [{}];
      const chart = charts.get(el) || echarts.init(el, null, {renderer: "canvas"});
      charts.set(el, chart);
      chart.setOption({
        tooltip: {trigger: "axis"},
        legend: {top: 0},
        grid: {left: 60, right: axes.length > 1 ? 50 : 20, bottom: 70, top: 30},
        xAxis: {type: "category", data: data.categories, axisLabel: {rotate: data.categories.length > 8 ? 40 : 0}},
        yAxis: axes.map((a) => ({type: "value", name: a.name, axisLabel: {formatter: axisFormatter(a.format)}})),
        series: data.series.map((s) => ({name: s.name, type: s.type || data.kind, data: s.data, yAxisIndex: s.axis || 0,
                                          stack: s.stack})),
      }, true);
      if (!data.categories.length) el.dataset.empty = "1";
    },
    pie(el, data) {
      const chart = charts.get(el) || echarts.init(el);
      charts.set(el, chart);
      chart.setOption({tooltip: {trigger: "item"}, series: [{type: "pie", radius: "65%", data: data.series}]}, true);
    },
  };
  renderers.line = renderers.bar;

  async function load(section) {
    const el = section.querySelector(".chart, .kpis");
    const error = section.querySelector(".error");
    error.textContent = "";
    const params = new URLSearchParams(new FormData(form));
    for (const [k, v] of [...params.entries()]) if (!v) params.delete(k);
    try {
      const data = await GA.json("/api/web/cockpit/" + section.dataset.widget + "/?" + params.toString());
      (renderers[data.kind] || renderers.bar)(el, data);
      section.dataset.loaded = "1";
    } catch (err) {
      error.textContent = GA.errorLines(err.body || err).join("; ");
    }
  }

  function loadAll() { document.querySelectorAll("[data-widget]").forEach(load); }
  form.addEventListener("change", loadAll);
  form.addEventListener("submit", (e) => { e.preventDefault(); loadAll(); });
  window.addEventListener("resize", () => charts.forEach((c) => c.resize()));
  window.Cockpit = {renderers: renderers, reload: loadAll};
  document.addEventListener("DOMContentLoaded", loadAll);
})();
