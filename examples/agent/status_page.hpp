#ifndef NEXTPRISM_EXAMPLES_AGENT_STATUS_PAGE_HPP
#define NEXTPRISM_EXAMPLES_AGENT_STATUS_PAGE_HPP

// GET /: one static page that reads /admin/proxy-stats and /v1/runs every
// two seconds. Self-contained (no script or style from elsewhere). A token,
// when the agent wants one, is taken from the address's fragment
// (#token=...), which a browser never sends, and passed as a bearer header.

namespace nextprism::agent {

inline constexpr const char* status_page = R"html(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>nextprism agent</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}
h1{font-size:1.3em;margin:0 0 .2em} h2{font-size:1.05em;margin:1.4em 0 .4em}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border:1px solid #ddd;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#f0f0f0;font-weight:600} code{font-size:.95em}
.closed,.succeeded{color:#17702a}.open,.failed,.unreachable,.refused{color:#b00020}
.half_open,.exited,.may_have_run,.timed_out,.cancelled,.running,.stopping{color:#a35c00}
#err{color:#b00020} .kv span{margin-right:1.5em}
</style></head><body>
<h1>nextprism agent</h1><div id="when">loading…</div><div id="err"></div>
<h2>Executor</h2><div class="kv" id="exec"></div>
<h2>Proxy endpoints</h2>
<table><thead><tr><th>endpoint</th><th>node</th><th>breaker</th><th>since</th><th>failures</th>
<th>connections (idle / busy)</th><th>handshakes</th><th>commands</th><th>last error</th></tr></thead>
<tbody id="endpoints"></tbody></table>
<h2>Discovery cache</h2>
<table><thead><tr><th>service</th><th>age</th><th>proxies</th><th>left out</th><th>proxy services</th></tr></thead>
<tbody id="cache"></tbody></table>
<h2>Runs</h2>
<table><thead><tr><th>id</th><th>service</th><th>command</th><th>state / outcome</th><th>exit</th>
<th>route</th><th>files</th><th>duration</th></tr></thead><tbody id="runs"></tbody></table>
<script>
"use strict";
const token = new URLSearchParams(location.hash.slice(1)).get("token");
const headers = token ? {Authorization: "Bearer " + token} : {};
const esc = s => String(s ?? "").replace(/[&<>"]/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;","\"":"&quot;"}[c]));
const secs = s => s == null ? "start" : s < 90 ? s.toFixed(1) + " s" : (s / 60).toFixed(1) + " min";
const row = cells => "<tr>" + cells.map(c => "<td>" + c + "</td>").join("") + "</tr>";
async function get(path) {
  const r = await fetch(path, {headers, cache: "no-store"});
  if (!r.ok) throw new Error(path + ": HTTP " + r.status);
  return r.json();
}
async function refresh() {
  try {
    const [stats, runs] = await Promise.all([get("/admin/proxy-stats"), get("/v1/runs")]);
    const x = stats.executor;
    document.getElementById("exec").innerHTML = Object.entries(x).map(([k, v]) =>
      "<span>" + esc(k) + ": <b>" + esc(v) + "</b></span>").join("") +
      "<span>in flight: <b>" + esc(stats.runs.in_flight) + "</b></span>";
    document.getElementById("endpoints").innerHTML = stats.endpoints.map(e => row([
      "<code>" + esc(e.endpoint) + "</code>", esc((e.node_id || "-").slice(0, 12)),
      "<span class='" + esc(e.breaker) + "'>" + esc(e.breaker) + "</span>", secs(e.since_s), esc(e.consecutive_failures),
      e.pool ? esc(e.pool.connections) + " (" + esc(e.pool.idle) + " / " + esc(e.pool.busy) + ")" : "-",
      e.pool ? esc(e.pool.handshakes) : "-", e.pool ? esc(e.pool.commands) : "-",
      e.pool ? esc(e.pool.last_error) : ""])).join("") || row(["no proxy used yet", "", "", "", "", "", "", "", ""]);
    const cache = stats.discovery ? stats.discovery.cache : [];
    document.getElementById("cache").innerHTML = cache.map(c => row([
      esc(c.service), secs(c.age_s) + (c.fresh ? "" : " (stale)"),
      c.proxies.map(p => "<code>" + esc(p.endpoint) + "</code>").join("<br>") || "none",
      c.left_out.map(p => "<code>" + esc(p.endpoint) + "</code> " + esc(p.error)).join("<br>"),
      c.proxy_services.map(p => esc(p.name) + ": " + esc(p.running) + (p.desired == null ? " (global)" : " of " + esc(p.desired))).join("<br>")
    ])).join("") || row(["nothing cached", "", "", "", ""]);
    document.getElementById("runs").innerHTML = runs.map(r => {
      const st = r.outcome || r.state;
      return row([esc(r.id), esc(r.service), "<code>" + esc(r.argv.join(" ")) + "</code>",
        "<span class='" + esc(st) + "'>" + esc(st) + "</span>" + (r.message ? "<br>" + esc(r.message) : ""),
        esc(r.exit_code ?? ""), "<code>" + esc(r.route ?? "") + "</code>", esc(r.files),
        r.duration_ms == null ? "" : (r.duration_ms / 1000).toFixed(2) + " s"]);
    }).join("") || row(["no runs yet", "", "", "", "", "", "", ""]);
    document.getElementById("when").textContent = "updated " + new Date().toLocaleTimeString();
    document.getElementById("err").textContent = "";
  } catch (e) {
    document.getElementById("err").textContent = String(e);
  }
}
refresh();
setInterval(refresh, 2000);
</script></body></html>
)html";

} // namespace nextprism::agent

#endif
