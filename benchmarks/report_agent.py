#!/usr/bin/env python3
"""docs/benchmarks-agent.md and docs/benchmarks-agent.json from the raw
results of benchmarks/run.sh's agent section (issue 21):

  raw/agent_inprocess.k{1,32}.rR.json, raw/agent_http.k{1,32}.rR.json,
  raw/agent_burst.rR.json   (bench_agent_exec, one row per process and round)
  raw/agent_metrics.json    (bench_agent: GET /metrics, 5 repetitions, aggregates)
  raw/commit.txt, dirty.txt, load-start.txt, load-end.txt, load-rounds.txt,
  failed-rows.txt, sections.txt

Ratios between the agent and the in-process executor are taken per round
(the two rows of one round ran minutes apart at most, under the same load),
then their median and range over the rounds. Python's standard library only.

  report_agent.py --raw DIR --root REPO [--rounds N]
"""
import argparse
import datetime
import glob
import json
import os
import re
import statistics

KEYS = ("p50_ms", "p99_ms", "max_ms", "cmds_per_s", "failures", "commands", "cpu_ms_per_cmd",
        "agent_cpu_ms_per_cmd", "agent_idle_rss_kb", "agent_peak_rss_kb", "agent_idle_after_kb",
        "agent_fresh_rss_kb", "agent_fresh_pss_kb", "agent_idle_pss_kb")


def load_rows(raw):
    """label -> {round: counters} for the agent_*.rR.json rows that ran."""
    rows, errors = {}, []
    for path in glob.glob(os.path.join(raw, "agent_*.r*.json")):
        m = re.match(r"(agent_.+)\.r(\d+)\.json$", os.path.basename(path))
        if not m:
            continue
        label, rnd = m.group(1), int(m.group(2))
        try:
            with open(path) as f:
                data = json.load(f)
        except (OSError, ValueError) as e:
            errors.append("%s round %d: unreadable (%s)" % (label, rnd, e))
            continue
        bms = [b for b in data.get("benchmarks", []) if b.get("run_type") != "aggregate"]
        if not bms:
            errors.append("%s round %d: no row" % (label, rnd))
            continue
        b = bms[0]
        if b.get("error_occurred"):
            errors.append("%s round %d: %s" % (label, rnd, b.get("error_message", "error")))
            continue
        rows.setdefault(label, {})[rnd] = {k: b.get(k) for k in KEYS}
        rows[label][rnd]["wall_ms"] = b.get("real_time")
    return rows, errors


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def agg(rows, label, key):
    """Median, min, max and count over the rounds of one row's counter."""
    xs = [r[key] for r in rows.get(label, {}).values() if r.get(key) is not None]
    if not xs:
        return None
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "rounds": len(xs)}


def per_round(rows, a, b, key, f):
    """f(a's key, b's key) in every round both rows ran; median, range."""
    ra, rb = rows.get(a, {}), rows.get(b, {})
    xs = [f(ra[r][key], rb[r][key]) for r in sorted(set(ra) & set(rb))
          if ra[r].get(key) is not None and rb[r].get(key) is not None and rb[r][key] != 0]
    if not xs:
        return None
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "rounds": len(xs),
            "per_round": xs}


def read(path, default=""):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return default


def metrics_median_us(raw):
    """GET /metrics' median render time (µs) from bench_agent's aggregates."""
    try:
        with open(os.path.join(raw, "agent_metrics.json")) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None, None
    for b in data.get("benchmarks", []):
        if b.get("aggregate_name") == "median":
            unit = b.get("time_unit", "us")
            scale = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}.get(unit, 1.0)
            return b["real_time"] * scale, b.get("bytes")
    return None, None


def fmt(x, digits=2, unit=""):
    return "n/a" if x is None else ("%.*f%s" % (digits, x, unit))


def rng(a, digits=2, unit=""):
    """'median (min–max)' of an agg() or per_round() result."""
    if a is None:
        return "n/a"
    return "%s (%s–%s)" % (fmt(a["median"], digits, unit), fmt(a["min"], digits, unit), fmt(a["max"], digits, unit))


def mb(kb):
    return None if kb is None else kb / 1024.0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--raw", required=True)
    p.add_argument("--root", required=True)
    p.add_argument("--rounds", type=int, default=5)
    a = p.parse_args()
    raw, root = a.raw, a.root
    rows, errors = load_rows(raw)
    failed_rows = [l for l in read(os.path.join(raw, "failed-rows.txt")).splitlines()
                   if l.startswith("agent")]

    summary = {
        "generated": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": read(os.path.join(raw, "commit.txt"), "unknown"),
        "dirty_files": read(os.path.join(raw, "dirty.txt"), "0"),
        "load_start": read(os.path.join(raw, "load-start.txt")),
        "load_end": read(os.path.join(raw, "load-end.txt")),
        "rounds_asked": a.rounds,
        "sections": read(os.path.join(raw, "sections.txt"), "all"),
        "rows": {},
        "comparisons": {},
        "targets": [],
        "errors": errors + failed_rows,
    }
    for label in sorted(rows):
        summary["rows"][label] = {k: agg(rows, label, k) for k in KEYS + ("wall_ms",)}

    diff = lambda h, i: h - i
    quot = lambda h, i: h / i
    cmp = {}
    for k in (1, 32):
        h, i = "agent_http.k%d" % k, "agent_inprocess.k%d" % k
        cmp[k] = {
            "p50_diff_ms": per_round(rows, h, i, "p50_ms", diff),
            "p99_diff_ms": per_round(rows, h, i, "p99_ms", diff),
            "p50_ratio": per_round(rows, h, i, "p50_ms", quot),
            "throughput_ratio": per_round(rows, h, i, "cmds_per_s", quot),
        }
        summary["comparisons"]["k%d" % k] = cmp[k]

    burst = "agent_burst"
    b_fail = [r["failures"] for r in rows.get(burst, {}).values() if r.get("failures") is not None]
    b_peak = agg(rows, burst, "agent_peak_rss_kb")
    b_after = agg(rows, burst, "agent_idle_after_kb")
    idle_xs = [r["agent_idle_rss_kb"] for lab in ("agent_http.k1", "agent_http.k32", burst)
               for r in rows.get(lab, {}).values() if r.get("agent_idle_rss_kb") is not None]
    idle = {"median": statistics.median(idle_xs), "min": min(idle_xs), "max": max(idle_xs),
            "rounds": len(idle_xs)} if idle_xs else None
    summary["burst"] = {"failures_max": max(b_fail) if b_fail else None, "failures_total": sum(b_fail) if b_fail else None,
                        "rounds": len(b_fail), "peak_rss_kb": b_peak, "idle_after_kb": b_after}
    summary["idle_rss_kb"] = idle
    summary["fresh_rss_kb"] = agg(rows, burst, "agent_fresh_rss_kb")
    summary["fresh_pss_kb"] = agg(rows, burst, "agent_fresh_pss_kb")
    summary["idle_pss_kb"] = agg(rows, burst, "agent_idle_pss_kb")
    m_us, m_bytes = metrics_median_us(raw)
    summary["metrics_render"] = {"median_us": m_us, "bytes": m_bytes}

    def target(name, value, met):
        summary["targets"].append({"target": name, "measured": value,
                                   "met": None if met is None else bool(met)})

    d1 = cmp[1]["p50_diff_ms"]
    target("≤ +0.3 ms per command at 1 in flight (agent p50 − in-process p50, per round)",
           ("+" if d1 and d1["median"] >= 0 else "") + rng(d1, 3, " ms") if d1 else "n/a",
           None if d1 is None else d1["median"] <= 0.3)
    t32 = cmp[32]["throughput_ratio"]
    target("≥ 0.95× the in-process throughput at 32 in flight (per round)",
           rng(t32, 2, "×") if t32 else "n/a", None if t32 is None else t32["median"] >= 0.95)
    target("1,000 concurrent requests: zero failures, peak RSS reported",
           "n/a" if not b_fail else "%d failures (of %d rounds' bursts); peak RSS %s MB" % (
               sum(b_fail), len(b_fail), rng({k: mb(v) if k != "rounds" else v for k, v in b_peak.items()}, 1)
               if b_peak else "n/a"),
           None if not b_fail else (sum(b_fail) == 0 and b_peak is not None))
    target("idle agent ≤ 8 MB RSS (VmRSS after /healthz and one exec)",
           "n/a" if idle is None else rng({k: mb(v) if k != "rounds" else v for k, v in idle.items()}, 2, " MB"),
           None if idle is None else idle["median"] <= 8 * 1024)
    for key, what in (("fresh_rss_kb", "VmRSS after /healthz, before any exec"),
                      ("idle_pss_kb", "PSS after /healthz and one exec"),
                      ("fresh_pss_kb", "PSS before any exec")):
        v = summary.get(key)
        target("idle agent ≤ 8 MB (%s; not the issue's measure, for comparison)" % what,
               "n/a" if not v else rng({k: mb(x) if k != "rounds" else x for k, x in v.items()}, 2, " MB"),
               None if not v else v["median"] <= 8 * 1024)
    target("GET /metrics with 10,000 runs recorded ≤ 1 ms (median of 5 repetitions)",
           "n/a" if m_us is None else "%.1f µs" % m_us, None if m_us is None else m_us <= 1000)

    # ---- the JSON summary
    os.makedirs(os.path.join(root, "docs"), exist_ok=True)
    with open(os.path.join(root, "docs", "benchmarks-agent.json"), "w") as f:
        json.dump(summary, f, indent=2, ensure_ascii=False)
        f.write("\n")

    # ---- the Markdown
    out = []
    w = out.append
    w("# Benchmarks: the agent (issue 21)")
    w("")
    w("<!-- Generated by benchmarks/report_agent.py from benchmarks/run.sh's raw results. Do not edit by hand. -->")
    w("*Generated by `benchmarks/report_agent.py` from the raw results of `benchmarks/run.sh` (its `agent` "
      "section, e.g. `NEXTPRISM_BENCH_ONLY=agent benchmarks/run.sh`). Do not edit by hand.*")
    w("")
    dirty = summary["dirty_files"]
    w("- Date: %s" % summary["generated"])
    w("- Commit: `%s`%s" % (summary["commit"], "" if dirty in ("", "0") else
                            " (with %s uncommitted change(s) under include/, proxy/, benchmarks/)" % dirty))
    w("- Rounds: %d asked; sections run: `%s`" % (a.rounds, summary["sections"]))
    w("- Load at start: `%s`" % summary["load_start"])
    w("- Load at end: `%s`" % summary["load_end"])
    lr = [l for l in read(os.path.join(raw, "load-rounds.txt")).splitlines() if l.startswith("agent_rows")]
    if lr:
        w("- Load after each round (1, 5, 15 min): %s" % "; ".join(
            "round %s: %s" % (l.split()[1], " ".join(l.split()[2:])) for l in lr))
    w("")
    w("## What is measured")
    w("")
    w("The same command every row sends, `php occ files:scan '--path=/alice/files/My Photos'` for the service "
      "`nextcloud`, through the benchmarks' proxy: Debian's sshd with `proxy/sshd_config` and the real "
      "`nextprism-validate` as ForceCommand in dry-run mode (it decides, audits, prints, exits 0, no Docker), on "
      "127.0.0.1. Both sides load one executor configuration (`\"docker_host\": null`, a static proxy list: "
      "`tools::with_executor` builds a `static_executor` over the SSH proxy transport; pool: 7 channels per "
      "connection, 5 connections).")
    w("")
    w("- **in-process**: that executor in the benchmark's process (its io_context on the benchmark's thread, as "
      "the agent has it), `async_run` as the agent calls it; success: no error, exit status 0.")
    w("- **agent**: `nextprism-agent --max-connections 4096 --max-runs-per-caller 4096` in a process of its own "
      "(one per row), `POST /v1/exec` from the benchmark's process (Boost.Beast, one io_context thread), one TCP "
      "connection per request (the agent closes after the stream), the NDJSON stream read to its end; success: "
      "HTTP 200 and a last line `finished` with `exit_code` 0 and outcome `succeeded`. Latency from the request's "
      "launch (before the connect) to the stream's end.")
    w("")
    w("A closed loop: each completion launches the next command, k in flight; both warm untimed first (k "
      "commands, which opens the pool's connections). One row per process, the rows interleaved over the rounds "
      "(round r starts r rows further down the list). Figures are medians over the rounds; the agent/in-process "
      "comparisons are taken per round, then their median and range (min–max). "
      "CPU per command: user + system time over the timed commands (the benchmark's process; the agent's from "
      "/proc/PID/stat, in clock ticks of 10 ms).")
    w("")
    for k in (1, 32):
        w("## %d in flight" % k)
        w("")
        w("| | p50 | p99 | throughput | client CPU / command | agent CPU / command | rounds |")
        w("|---|---|---|---|---|---|---|")
        for name, label in (("in-process executor", "agent_inprocess.k%d" % k), ("agent over HTTP", "agent_http.k%d" % k)):
            r = summary["rows"].get(label)
            if not r:
                w("| %s | not measured | | | | | 0 |" % name)
                continue
            g = lambda key, d=2, u="": fmt(r[key]["median"], d, u) if r.get(key) else "–"
            w("| %s | %s | %s | %s cmds/s | %s | %s | %d |" % (
                name, g("p50_ms", 2, " ms"), g("p99_ms", 2, " ms"), g("cmds_per_s", 0),
                g("cpu_ms_per_cmd", 3, " ms"), g("agent_cpu_ms_per_cmd", 2, " ms") if "http" in label else "–",
                r["p50_ms"]["rounds"] if r.get("p50_ms") else 0))
        c = cmp[k]
        w("")
        w("Agent against in-process, per round: p50 %s (%s), p99 %s; throughput %s." % (
            ("+" if c["p50_diff_ms"] and c["p50_diff_ms"]["median"] >= 0 else "") + rng(c["p50_diff_ms"], 3, " ms"),
            rng(c["p50_ratio"], 2, "×"),
            ("+" if c["p99_diff_ms"] and c["p99_diff_ms"]["median"] >= 0 else "") + rng(c["p99_diff_ms"], 3, " ms"),
            rng(c["throughput_ratio"], 2, "×")))
        w("")
    w("## 1,000 requests at once")
    w("")
    w("All 1,000 `POST /v1/exec` launched at once against one agent (this process's and so the agent's "
      "`RLIMIT_NOFILE` raised to 8192 first), latency counted from the burst's launch. The agent's RSS: idle "
      "(`VmRSS` after `/healthz` and one exec), peak (`VmHWM` after the burst), and `VmRSS` 2 s after the "
      "burst ended.")
    w("")
    br = summary["rows"].get(burst)
    if br:
        g = lambda key, d=2, u="": rng(br[key], d, u) if br.get(key) else "n/a"
        kb = lambda key: rng({kk: mb(v) if kk != "rounds" else v for kk, v in br[key].items()}, 1, " MB") \
            if br.get(key) else "n/a"
        w("| failures (all rounds) | wall | p50 | p99 | throughput | agent idle | agent peak | agent 2 s after | rounds |")
        w("|---|---|---|---|---|---|---|---|---|")
        w("| %d | %s | %s | %s | %s cmds/s | %s | %s | %s | %d |" % (
            sum(b_fail), g("wall_ms", 0, " ms"), g("p50_ms", 0, " ms"), g("p99_ms", 0, " ms"), g("cmds_per_s", 0),
            kb("agent_idle_rss_kb"), kb("agent_peak_rss_kb"), kb("agent_idle_after_kb"), len(b_fail)))
    else:
        w("Not measured.")
    w("")
    w("## GET /metrics")
    w("")
    w("The agent's Prometheus render with 10,000 runs recorded (`benchmarks/agent.cpp`: the agent's own registry "
      "and text render, three endpoints with their pools, two cached placements), median of 5 repetitions: "
      "**%s**%s." % ("n/a" if m_us is None else "%.1f µs" % m_us,
                     "" if m_bytes is None else " (%d bytes of text)" % m_bytes))
    w("")
    w("## The issue's targets")
    w("")
    w("| target | measured (median (min–max) over rounds) | |")
    w("|---|---|---|")
    for t in summary["targets"]:
        w("| %s | %s | %s |" % (t["target"], t["measured"],
                                "not measured" if t["met"] is None else "met" if t["met"] else "**missed**"))
    w("")
    if summary["errors"]:
        w("## Rows that failed")
        w("")
        for e in summary["errors"]:
            w("- %s" % e)
        w("")
    with open(os.path.join(root, "docs", "benchmarks-agent.md"), "w") as f:
        f.write("\n".join(out))


if __name__ == "__main__":
    main()
