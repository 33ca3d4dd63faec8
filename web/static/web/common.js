/* Helpers shared by the pages: JSON requests with the session and CSRF token, formatting. */
(function () {
  "use strict";

  function cookie(name) {
    const found = document.cookie.split("; ").find((c) => c.startsWith(name + "="));
    return found ? decodeURIComponent(found.split("=")[1]) : "";
  }

  function csrfToken() {
    const input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : cookie("csrftoken");
  }

  /** fetch() a JSON endpoint of this server; rejects with {status, body} on an error. */
  async function json(url, options) {
    const opts = Object.assign({credentials: "same-origin", headers: {}}, options || {});
    // The API answers in the request's language: ask for the page's, not the browser's.
    const lang = document.documentElement.lang || "zh-hans";
    opts.headers = Object.assign({"Accept": "application/json", "Accept-Language": lang}, opts.headers);
    if (opts.body !== undefined && typeof opts.body !== "string" && !(opts.body instanceof FormData)) {
      opts.body = JSON.stringify(opts.body);
      opts.headers["Content-Type"] = "application/json";
    }
    if (opts.method && opts.method !== "GET") opts.headers["X-CSRFToken"] = csrfToken();
    const response = await fetch(url, opts);
    const text = await response.text();
    let body = null;
    try { body = text ? JSON.parse(text) : null; } catch (e) { body = {detail: text.slice(0, 200)}; }
    if (!response.ok) throw {status: response.status, body: body};
    return body;
  }

  const lang = document.documentElement.lang || "zh-hans";
  const locale = lang.startsWith("zh") ? "zh-CN" : "en";

  /** A number for people: "percent" (0.84 → 84.0%), "money" (2 places), "number", "decimal". */
  function fmt(value, kind) {
    if (value === null || value === undefined || value === "") return "–";
    const n = Number(value);
    if (!isFinite(n)) return String(value);
    if (kind === "percent") return (n * 100).toLocaleString(locale, {maximumFractionDigits: 1}) + "%";
    if (kind === "money") return n.toLocaleString(locale, {minimumFractionDigits: 2, maximumFractionDigits: 2});
    if (kind === "decimal") return n.toLocaleString(locale, {maximumFractionDigits: 2});
    return n.toLocaleString(locale, {maximumFractionDigits: 0});
  }

  function esc(value) {
    return String(value === null || value === undefined ? "" : value).replace(/[&<>"']/g, (c) => (
      {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;"}[c]));
  }

  /** The errors of a DRF 400 body as lines "field: reason". */
  function errorLines(body) {
    if (!body || typeof body !== "object") return [String(body)];
    const lines = [];
    for (const [field, value] of Object.entries(body)) {
      const reasons = Array.isArray(value) ? value : [value];
      for (const reason of reasons) {
        lines.push(typeof reason === "object" ? field + ": " + JSON.stringify(reason) : field + ": " + reason);
      }
    }
    return lines;
  }

  window.GeoAsset = {json: json, fmt: fmt, esc: esc, csrfToken: csrfToken, errorLines: errorLines, locale: locale};
})();
