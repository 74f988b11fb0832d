// Hearth's console: it calls the same API as the CLI and the SDKs, as the
// session the login link opened (an HttpOnly cookie the browser sends),
// with the X-Hearth-Console header that the server requires of such
// requests. Everything shown is set with textContent, never parsed as HTML.
"use strict";

const H = { "X-Hearth-Console": "1" };
const $ = (sel) => document.querySelector(sel);

async function api(path, opts = {}) {
  const r = await fetch(path, { ...opts, credentials: "same-origin", headers: { ...H, ...(opts.headers || {}) } });
  if (r.status === 401 || r.status === 403) {
    let msg = "";
    try { msg = (await r.clone().json()).message || ""; } catch (e) { /* not JSON */ }
    if (!/root key/.test(msg)) status("Not signed in: run `hearth console` for a login link.", true);
  }
  return r;
}

async function json(path) {
  const r = await api(path);
  if (!r.ok) throw new Error(path + ": " + r.status + " " + (await r.text()));
  return r.json();
}

function status(text, bad) {
  const s = $("#status");
  s.textContent = text;
  s.className = bad ? "error" : "";
}

function row(tbody, cells, attrs = {}) {
  const tr = document.createElement("tr");
  for (const [k, v] of Object.entries(attrs)) tr.setAttribute(k, v);
  for (const c of cells) {
    const td = document.createElement("td");
    if (c && typeof c === "object") {
      td.textContent = c.text;
      if (c.cls) td.className = c.cls;
    } else {
      td.textContent = c == null ? "" : String(c);
    }
    tr.appendChild(td);
  }
  tbody.appendChild(tr);
  return tr;
}

function fill(selectId, names) {
  const sel = $(selectId);
  const keep = sel.value;
  const have = Array.from(sel.options).map((o) => o.value).join("\n");
  if (have === names.join("\n")) return;
  sel.textContent = "";
  for (const n of names) {
    const o = document.createElement("option");
    o.value = o.textContent = n;
    sel.appendChild(o);
  }
  if (names.includes(keep)) sel.value = keep;
}

function age(since) {
  if (!since) return "";
  const s = Math.max(0, Math.round((Date.now() - Date.parse(since)) / 1000));
  if (s < 120) return s + " s";
  if (s < 7200) return Math.round(s / 60) + " min";
  return Math.round(s / 3600) + " h";
}

let selected = "";

async function loadFunctions() {
  let fns = [];
  let marker = "";
  do {
    const page = await json("/2015-03-31/functions?MaxItems=50" + (marker ? "&Marker=" + encodeURIComponent(marker) : ""));
    fns = fns.concat(page.Functions || []);
    marker = page.NextMarker || "";
  } while (marker);
  fns.sort((a, b) => a.FunctionName.localeCompare(b.FunctionName));
  const tbody = $("#functions tbody");
  tbody.textContent = "";
  for (const f of fns) {
    const tr = row(tbody, [f.FunctionName, f.Runtime, f.Handler, f.MemorySize + " MB", f.Timeout + " s", f.LastModified],
      { "data-name": f.FunctionName });
    if (f.FunctionName === selected) tr.classList.add("selected");
    tr.addEventListener("click", () => showFunction(f.FunctionName));
  }
  const names = fns.map((f) => f.FunctionName);
  fill("#invoke-fn", names);
  fill("#logs-fn", names);
}

async function showFunction(name) {
  selected = name;
  for (const tr of document.querySelectorAll("#functions tbody tr")) tr.classList.toggle("selected", tr.dataset.name === name);
  $("#function-detail").hidden = false;
  $("#detail-name").textContent = name;
  const enc = encodeURIComponent(name);
  const [vs, as] = await Promise.all([json("/2015-03-31/functions/" + enc + "/versions"), json("/2015-03-31/functions/" + enc + "/aliases")]);
  const vt = $("#versions tbody");
  vt.textContent = "";
  for (const v of vs.Versions || []) row(vt, [v.Version, (v.CodeSha256 || "").slice(0, 16), v.Description || ""]);
  const at = $("#aliases tbody");
  at.textContent = "";
  for (const a of as.Aliases || []) {
    const w = a.RoutingConfig && a.RoutingConfig.AdditionalVersionWeights;
    row(at, [a.Name, a.FunctionVersion, w ? JSON.stringify(w) : ""]);
  }
}

async function loadEnvironments() {
  const r = await api("/_hearth/v1/environments");
  const tbody = $("#environments tbody");
  if (!r.ok) {
    tbody.textContent = "";
    row(tbody, [{ text: "environments: " + r.status, cls: "error" }]);
    return;
  }
  const envs = (await r.json()).environments || [];
  envs.sort((a, b) => (a.function + a.env).localeCompare(b.function + b.env));
  tbody.textContent = "";
  for (const e of envs) {
    row(tbody, [e.function, e.version, e.env, { text: e.state, cls: "state-" + e.state }, age(e.created),
      e.memory_mb ? e.memory_mb + " MB" : "", e.provisioned ? "yes" : ""], { "data-function": e.function, "data-state": e.state });
  }
}

async function loadAsync() {
  const r = await api("/_hearth/v1/async");
  const tbody = $("#async tbody");
  tbody.textContent = "";
  if (!r.ok) {
    row(tbody, [{ text: "async: " + r.status, cls: "error" }]);
    return;
  }
  const s = await r.json();
  for (const k of ["depth", "oldest_age_seconds", "in_flight", "enqueued", "succeeded", "failed", "retried", "throttled", "expired", "dropped", "delivered"]) {
    row(tbody, [k, s[k]], { "data-key": k });
  }
}

function b64decode(s) {
  const bin = atob(s);
  const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

async function invoke(ev) {
  ev.preventDefault();
  const name = $("#invoke-fn").value;
  const q = $("#invoke-qualifier").value.trim();
  $("#invoke-btn").disabled = true;
  $("#invoke-meta").textContent = "running…";
  $("#invoke-result").textContent = "";
  $("#invoke-log").textContent = "";
  try {
    const r = await api("/2015-03-31/functions/" + encodeURIComponent(name) + "/invocations" + (q ? "?Qualifier=" + encodeURIComponent(q) : ""), {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Amz-Log-Type": "Tail" },
      body: $("#invoke-payload").value,
    });
    const body = await r.text();
    const fe = r.headers.get("X-Amz-Function-Error");
    const ver = r.headers.get("X-Amz-Executed-Version");
    $("#invoke-meta").textContent = "(" + r.status + (ver ? ", version " + ver : "") + (fe ? ", function error: " + fe : "") + ")";
    $("#invoke-result").textContent = body;
    const log = r.headers.get("X-Amz-Log-Result");
    if (log) $("#invoke-log").textContent = b64decode(log);
  } catch (e) {
    $("#invoke-meta").textContent = String(e);
  } finally {
    $("#invoke-btn").disabled = false;
  }
}

let following = null;

async function follow(ev) {
  ev.preventDefault();
  if (following) following.abort();
  const ctl = new AbortController();
  following = ctl;
  const out = $("#logs");
  out.textContent = "";
  $("#logs-stop").disabled = false;
  try {
    const r = await api("/_hearth/v1/functions/" + encodeURIComponent($("#logs-fn").value) + "/logs?tail=50&follow=true", { signal: ctl.signal });
    if (!r.ok) {
      out.textContent = r.status + " " + (await r.text());
      return;
    }
    const reader = r.body.getReader();
    const dec = new TextDecoder();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      out.textContent += dec.decode(value, { stream: true });
      if (out.textContent.length > 200000) out.textContent = out.textContent.slice(-100000);
      out.scrollTop = out.scrollHeight;
    }
  } catch (e) {
    if (e.name !== "AbortError") out.textContent += "\n" + e;
  } finally {
    if (following === ctl) {
      following = null;
      $("#logs-stop").disabled = true;
    }
  }
}

async function refresh() {
  try {
    await Promise.all([loadFunctions(), loadEnvironments(), loadAsync()]);
    if (!/Not signed in/.test($("#status").textContent)) status("updated " + new Date().toLocaleTimeString());
  } catch (e) {
    if (!/Not signed in/.test($("#status").textContent)) status(String(e.message || e), true);
  }
}

async function fastRefresh() {
  try { await loadEnvironments(); } catch (e) { /* the next round says */ }
}

document.addEventListener("DOMContentLoaded", () => {
  $("#invoke-form").addEventListener("submit", invoke);
  $("#logs-form").addEventListener("submit", follow);
  $("#logs-stop").addEventListener("click", () => following && following.abort());
  $("#logout").addEventListener("click", async () => {
    await api("/console/logout", { method: "POST" });
    status("Signed out: run `hearth console` for a new login link.", true);
  });
  refresh();
  setInterval(refresh, 3000);
  setInterval(fastRefresh, 500);
});
