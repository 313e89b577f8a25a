// The dashboard at /nilus-manager/ui: the tenant's resources, one resource's
// runs over time, the latest runs with their errors and the CDC pipelines'
// latest offsets, read from this server's API with the token the user
// pasted.  The token is kept in sessionStorage only (this tab, until it
// closes) and sent only to this server.  No library: the charts are SVG
// drawn here; every value is written as text, never as HTML.
"use strict";

const API = "./api/v1";
const SVG_NS = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);

function store(key, value) {
  if (value) sessionStorage.setItem(key, value); else sessionStorage.removeItem(key);
}

function element(tag, attrs, ...children) {
  const node = tag.startsWith("svg:") ? document.createElementNS(SVG_NS, tag.slice(4))
                                      : document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
  for (const child of children) node.append(child);
  return node;
}

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(path, params) {
  const query = new URLSearchParams(params || {}).toString();
  const response = await fetch(`${API}${path}${query ? "?" + query : ""}`,
                               {headers: {Authorization: `Bearer ${$("token").value.trim()}`}});
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    throw new ApiError(response.status, body && body.error ? body.error.message : response.statusText);
  }
  return body;
}

function explain(error, tenant) {
  if (error.status === 401) {
    return "The token was refused (401): it is unknown, malformed, revoked or expired. " +
           "Paste a valid token; an operator creates one with nilus.create_token.";
  }
  if (error.status === 403) {
    return `This token may not read tenant "${tenant}" (403): it belongs to another tenant ` +
           "or lacks the read right.";
  }
  if (error.status === 503) return "The database cannot be reached right now (503); try again shortly.";
  return `The server answered ${error.status || "nothing"}: ${error.message}`;
}

function showMessage(text) {
  $("message").textContent = text;
  $("message").hidden = !text;
  $("content").hidden = Boolean(text);
}

const seg = (text) => encodeURIComponent(text);
const seconds = (value) => value === null ? "" : `${value.toFixed(1)} s`;
const when = (text) => text ? text.replace("T", " ").replace(/\.\d+Z$/, "Z") : "";

function outcome(isSuccess) {
  if (isSuccess === null) return element("span", {class: "running"}, "running");
  return isSuccess ? element("span", {class: "ok"}, "succeeded") : element("span", {class: "failed"}, "failed");
}

function resourceLink(resourceId) {
  return element("a", {href: `#resource=${seg(resourceId)}`}, resourceId);
}

function cells(row, values) {
  for (const value of values) {
    const cell = element("td");
    if (typeof value === "number") cell.className = "num";
    cell.append(value === null || value === undefined ? "" : value instanceof Node ? value : String(value));
    row.append(cell);
  }
  return row;
}

function renderResources(stats, selected) {
  const body = $("resources").tBodies[0];
  body.replaceChildren();
  for (const r of stats.resources) {
    const row = cells(element("tr", {"data-resource": r.resource_id}), [
      r.pipeline_name || "", resourceLink(r.resource_id), r.total_runs,
      r.failed_runs ? element("span", {class: "failed"}, String(r.failed_runs)) : "0",
      r.success_rate === null ? "" : `${r.success_rate} %`, seconds(r.avg_duration_sec),
      seconds(r.max_duration_sec), element("span", {}, when(r.last_started_at) + " ", outcome(r.last_is_success))]);
    if (r.resource_id === selected) row.className = "selected";
    body.append(row);
  }
  $("resources-caption").textContent =
    `${stats.total} with runs from ${when(stats.period_start)} to ${when(stats.period_end)}, most failures first`;
}

// A chart: bars (stacked values) or lines, one x slot per bucket.
function drawChart(svg, buckets, series, kind) {
  const width = 600, height = 200, left = 40, bottom = 20, top = 10;
  const plotW = width - left - 10, plotH = height - top - bottom;
  const maxValue = Math.max(1, ...buckets.map((b) => kind === "bars"
    ? series.reduce((sum, s) => sum + (b[s.key] || 0), 0)
    : Math.max(...series.map((s) => b[s.key] || 0))));
  const slot = plotW / Math.max(1, buckets.length);
  const y = (v) => top + plotH - (v / maxValue) * plotH;
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.replaceChildren(
    element("svg:line", {class: "axis", x1: left, y1: top + plotH, x2: width - 10, y2: top + plotH}),
    element("svg:text", {x: 2, y: top + 8}, String(Math.round(maxValue * 100) / 100)),
    element("svg:text", {x: 2, y: top + plotH}, "0"));
  buckets.forEach((b, i) => {
    if (i % Math.ceil(buckets.length / 6) === 0) {
      svg.append(element("svg:text", {x: left + i * slot, y: height - 4}, when(b.bucket_start).slice(5, 16)));
    }
  });
  if (kind === "bars") {
    buckets.forEach((b, i) => {
      let base = 0;
      for (const s of series) {
        const value = b[s.key] || 0;
        if (value > 0) {
          const rect = element("svg:rect", {class: s.className, x: left + i * slot + slot * 0.1,
            y: y(base + value), width: Math.max(1, slot * 0.8), height: y(base) - y(base + value)});
          rect.append(element("svg:title", {}, `${when(b.bucket_start)}: ${value} ${s.label}`));
          svg.append(rect);
        }
        base += value;
      }
    });
  } else {
    for (const s of series) {
      const points = buckets.map((b, i) => b[s.key] === null ? null
        : `${left + (i + 0.5) * slot},${y(b[s.key])}`).filter(Boolean);
      if (points.length) svg.append(element("svg:polyline", {class: s.className, points: points.join(" ")}));
    }
  }
}

function renderSeries(series) {
  $("resource-name").textContent = series.resource_id;
  for (const node of document.querySelectorAll(".bucket")) node.textContent = series.bucket === "1h" ? "hour" : "day";
  const buckets = series.series.map((b) => Object.assign({}, b, {ok: b.successful_runs}));
  drawChart($("runs-chart"), buckets, [{key: "ok", label: "succeeded", className: "ok-bar"},
                                      {key: "failed_runs", label: "failed", className: "failed-bar"}], "bars");
  drawChart($("duration-chart"), buckets, [{key: "avg_duration_sec", className: "avg-line"},
                                          {key: "max_duration_sec", className: "max-line"}], "lines");
  $("resource-section").hidden = false;
}

function renderRuns(runs, resourceId) {
  const body = $("runs").tBodies[0];
  body.replaceChildren();
  for (const r of runs) {
    body.append(cells(element("tr"), [when(r.started_at), r.pipeline_name, resourceLink(r.resource_id),
      r.run_as_user || "", outcome(r.is_success), seconds(r.duration_sec),
      r.error ? element("span", {class: "error"}, r.error) : ""]));
  }
  $("runs-caption").textContent = resourceId ? `of ${resourceId}` : "of every resource";
}

// The listing is newest first: the first record of a key is its latest.
function renderOffsets(offsets) {
  const body = $("cdc").tBodies[0];
  const seen = new Set();
  body.replaceChildren();
  for (const o of offsets) {
    const key = `${o.pipeline_name}\u0000${o.offset_key}`;
    if (seen.has(key)) continue;
    seen.add(key);
    body.append(cells(element("tr"), [o.pipeline_name, o.connector_name, resourceLink(o.resource_id),
      o.offset_key, o.offset_val, when(o.record_insert_ts)]));
  }
}

function selectedResource() {
  const match = /^#resource=(.+)$/.exec(location.hash);
  return match ? decodeURIComponent(match[1]) : null;
}

async function refresh() {
  const tenant = $("tenant").value.trim();
  const period = $("period").value;
  const resourceId = selectedResource();
  store("nilus-token", $("token").value.trim());
  store("nilus-tenant", tenant);
  store("nilus-period", period);
  if (!$("token").value.trim() || !tenant) {
    showMessage("Paste a token with the read right and name its tenant to start.");
    document.body.dataset.loaded = "waiting";
    return;
  }
  const base = `/tenants/${seg(tenant)}`;
  try {
    const [stats, runs, offsets] = await Promise.all([
      api(`${base}/stats`, {period, limit: 1000}),
      resourceId ? api(`${base}/pipelines/${seg(resourceId)}/runs`, {limit: 20})
                 : api(`${base}/pipelines`, {limit: 20}),
      api(`${base}/cdc/offset-storage`, {limit: 500})]);
    showMessage("");
    renderResources(stats, resourceId);
    renderRuns(resourceId ? runs.runs : runs.pipelines, resourceId);
    renderOffsets(offsets.offsets);
    $("resource-section").hidden = true;
    if (resourceId) renderSeries(await api(`${base}/pipelines/${seg(resourceId)}/series`, {period}));
    document.body.dataset.loaded = "true";
  } catch (error) {
    showMessage(explain(error, tenant));
    document.body.dataset.loaded = "error";
  }
}

$("token").value = sessionStorage.getItem("nilus-token") || "";
$("tenant").value = sessionStorage.getItem("nilus-tenant") || "";
$("period").value = sessionStorage.getItem("nilus-period") || "7d";
$("settings").addEventListener("submit", (event) => { event.preventDefault(); refresh(); });
$("period").addEventListener("change", refresh);
$("forget").addEventListener("click", () => { $("token").value = ""; refresh(); });
window.addEventListener("hashchange", refresh);
refresh();
