"""Markdown for the cluster benchmarks, and the README section that holds it.

`render(results)` turns the runner's results (a JSON-able dict) into the
bench/README.md section; `replace_section(readme, section)` puts it between
the `<!-- cluster-bench:begin -->` / `<!-- cluster-bench:end -->` markers
(appended when they are missing). Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

BEGIN = "<!-- cluster-bench:begin -->"
END = "<!-- cluster-bench:end -->"

JITTER_TARGETS = {"idle": 0.3, "stall": 0.3, "loaded": 1.0, "realtime": 0.2}
CONDITIONS = {
    "idle": "idle",
    "stall": "idle, supervisor stalled 800 ms every 2 s",
    "loaded": "loaded",
    "realtime": "loaded, `realtime on`",
}


def replace_section(readme: str, section: str) -> str:
    block = f"{BEGIN}\n{section.rstrip()}\n{END}"
    if BEGIN in readme and END in readme:
        head, _, rest = readme.partition(BEGIN)
        _, _, tail = rest.partition(END)
        return head + block + tail
    return readme.rstrip() + "\n\n" + block + "\n"


def _f(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _ratio(ours: float | None, theirs: float | None) -> str:
    if ours is None or theirs is None or ours == 0:
        return "n/a"
    return f"{theirs / ours:.1f}x"


def schedule_p99(kind: str, node: dict[str, Any]) -> float:
    """The p99 judged against each daemon's own schedule (module doc of stats)."""
    return float(node["grid_p99_ms"] if kind == "hbeat" else node["interval_p99_ms"])


def jitter_table(jitter: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        "| condition | daemon | node | run s | sends | mean interval ms | stdev ms "
        "| grid dev p50 / p99 / max ms | interval dev p50 / p99 / max ms "
        "| p99 vs own schedule | target | met | heartbeat/hbeat p99 |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for cond, title in CONDITIONS.items():
        for kind in ("hbeat", "heartbeat"):
            res = jitter.get(f"{cond}/{kind}")
            if res is None:
                continue
            other = jitter.get(f"{cond}/heartbeat") if kind == "hbeat" else None
            for node, n in res["nodes"].items():
                p99 = schedule_p99(kind, n)
                target = JITTER_TARGETS[cond]
                met = ("yes" if p99 < target else "**no**") if kind == "hbeat" else "-"
                ratio = _ratio(p99, schedule_p99("heartbeat", other["nodes"][node])) \
                    if other else ""
                lines.append(
                    f"| {title} | {kind} | {node} | {res['duration_s']:.0f} | {n['sends']} "
                    f"| {n['mean_interval_ms']:.3f} | {n['stdev_interval_ms']:.3f} "
                    f"| {n['grid_p50_ms']:.3f} / {n['grid_p99_ms']:.3f} / {n['grid_max_ms']:.3f} "
                    f"| {n['interval_p50_ms']:.3f} / {n['interval_p99_ms']:.3f} / "
                    f"{n['interval_max_ms']:.3f} | {p99:.3f} | < {target} | {met} | {ratio} |")
    return lines


LIMIT_TARGET = 1.5  # hbeat's loaded p99 within 1.5x of the machine's limit


def limit_table(jitter: dict[str, dict[str, Any]], limit: dict[str, dict[str, Any]]) -> list[str]:
    """Each daemon's loaded p99 (against its own schedule) over the p99 of
    bench/cluster/gridlimit.c under the same policy and load, same window."""
    lines = [
        "| condition | machine limit p99 / max ms, on the wire (own stamps) | daemon | node "
        "| p99 vs own schedule ms | ratio to the limit | target | met |",
        "|---|---:|---|---|---:|---:|---:|---|",
    ]
    for cond in ("loaded", "realtime"):
        lim = limit.get(cond)
        if lim is None:
            continue
        wire = lim.get("wire") or lim
        base = float(wire["grid_p99_ms"])
        for kind in ("hbeat", "heartbeat"):
            res = jitter.get(f"{cond}/{kind}")
            if res is None:
                continue
            for node, n in res["nodes"].items():
                p99 = schedule_p99(kind, n)
                ratio = p99 / base if base > 0 else None
                met = "-" if kind != "hbeat" or ratio is None else (
                    "yes" if ratio <= LIMIT_TARGET else "**no**")
                lines.append(
                    f"| {CONDITIONS[cond]} | {base:.3f} / {wire['grid_max_ms']:.3f} "
                    f"({lim['grid_p99_ms']:.3f} / {lim['grid_max_ms']:.3f}) | {kind} "
                    f"| {node} | {p99:.3f} | {_f(ratio, 2)}x | ≤ {LIMIT_TARGET}x | {met} |")
    return lines


OPS = {
    "startup_both": "start-up, both nodes launched together -> otter's start",
    "startup_alone": "start-up alone (hbeat: `boot_takeover initdead`) -> start",
    "startup_peer_up": "start-up of otter, weasel up and running svc1 -> otter's start",
    "handover": "handover: SIGTERM to the holder -> the peer's start",
    "stop": "stop: SIGTERM -> last daemon process gone",
    "restart": "restart: SIGTERM, relaunch when gone -> otter's start again",
    "restart_up": "relaunch (after the stop) -> the new daemon's first keepalive on the wire",
}


def ops_table(res: dict[str, dict[str, Any]]) -> list[str]:
    lines = ["| operation | hbeat p50 / max ms | heartbeat p50 / max ms | n (hbeat, heartbeat) |",
             "|---|---:|---:|---:|"]
    for key, title in OPS.items():
        cells = []
        ns = []
        for kind in ("hbeat", "heartbeat"):
            op = res.get(kind, {}).get("ops", {}).get(key)
            cells.append("n/a" if op is None else f"{op['p50_ms']:.0f} / {op['max_ms']:.0f}")
            ns.append("0" if op is None else str(op["n"]))
        lines.append(f"| {title} | {cells[0]} | {cells[1]} | {', '.join(ns)} |")
    for kind in ("hbeat", "heartbeat"):
        for err in res.get(kind, {}).get("errors", []):
            lines.append(f"\n{kind}: {err}")
    return lines


def sched_lines(jitter: dict[str, dict[str, Any]]) -> list[str]:
    out = []
    for key, res in jitter.items():
        pols = sorted({p for ps in res.get("sched", {}).values() for p in ps})
        out.append(f"- `{key}`: " + "; ".join(pols))
    return out


def failover_table(failover: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        "| profile | daemon | reps | detect p50 / p99 / max ms | target | met "
        "| resource start p50 / p99 / max ms | target | met "
        "| heartbeat/hbeat p99 (detect, start) | detect from last packet min / p99 ms "
        "| detect from kill min / p99 ms |",
        "|---|---|---:|---:|---:|---|---:|---:|---|---:|---:|---:|",
    ]
    for profile in ("classic", "fast"):
        for kind in ("hbeat", "heartbeat"):
            res = failover.get(f"{profile}/{kind}")
            if res is None:
                continue
            dt = res["deadtime_ms"]
            d, s = res["detect"] or {}, res["start"] or {}
            dmet = smet = "-"
            if kind == "hbeat":
                # The targets: detection p99 within deadtime + 2 ms; start p99
                # within deadtime + 10 ms plus the scripts' own time, judged on
                # the hop table's last row (hops_table).
                dmet = "yes" if d and d["p99_ms"] <= dt + 2 else "**no**"
                net = ((res.get("breakdown") or {}).get("start_net_ms") or {}).get("p99_ms")
                smet = "-" if net is None else "yes" if net <= 10 else "**no**"
            ratio = ""
            other = failover.get(f"{profile}/heartbeat") if kind == "hbeat" else None
            if other and d and s and other["detect"] and other["start"]:
                ratio = (f"{_ratio(d['p99_ms'], other['detect']['p99_ms'])} / "
                         f"{_ratio(s['p99_ms'], other['start']['p99_ms'])}")
            lp = res.get("detect_from_last_packet") or {}
            kp = res.get("detect_from_kill") or {}
            lines.append(
                f"| {profile} | {kind} | {res['reps']} "
                f"| {_f(d.get('p50_ms'), 1)} / {_f(d.get('p99_ms'), 1)} / {_f(d.get('max_ms'), 1)} "
                f"| ≤ {dt + 2} | {dmet} "
                f"| {_f(s.get('p50_ms'), 1)} / {_f(s.get('p99_ms'), 1)} / {_f(s.get('max_ms'), 1)} "
                f"| ≤ {dt + 10} + scripts | {smet} | {ratio} "
                f"| {_f(lp.get('min_ms'), 1)} / {_f(lp.get('p99_ms'), 1)} "
                f"| {_f(kp.get('min_ms'), 1)} / {_f(kp.get('p99_ms'), 1)} |")
    return lines


def breakdown_table(failover: dict[str, dict[str, Any]]) -> list[str]:
    """Where the milliseconds between the deadline and the script's start go,
    on the wire and in the probe's stamps (scenarios.FailoverScenario)."""
    lines = ["| profile | daemon | deadline -> stonith frame on the wire p50 / p99 ms "
             "| stonith frame -> `status` stamp p50 / p99 ms "
             "| `status` stamp -> `start` stamp p50 / p99 ms |", "|---|---|---:|---:|---:|"]
    for profile in ("classic", "fast"):
        for kind in ("hbeat", "heartbeat"):
            res = failover.get(f"{profile}/{kind}")
            if res is None or "overshoot" not in res:
                continue
            cells = []
            for key in ("overshoot", "stonith_to_status", "status_to_start"):
                v = res.get(key) or {}
                cells.append(f"{_f(v.get('p50_ms'), 1)} / {_f(v.get('p99_ms'), 1)}")
            lines.append(f"| {profile} | {kind} | {' | '.join(cells)} |")
    return lines


HOPS = (
    ("decision_ms", "deadline -> decision"),
    ("decision_to_wire_ms", "decision -> stonith frame on the wire"),
    ("decision_to_status_spawn_ms", "decision -> `status` spawned"),
    ("status_own_ms", "`status` spawn -> exit (script)"),
    ("status_exit_to_start_spawn_ms", "`status` exit -> `start` spawned"),
    ("start_own_ms", "`start` spawn -> its stamp (script)"),
    ("start_after_deadline_ms", "deadline -> `start` stamp"),
    ("scripts_own_ms", "scripts' own time"),
    ("start_net_ms", "deadline -> `start` stamp minus the scripts' own time"),
)


def hops_table(failover: dict[str, dict[str, Any]]) -> list[str]:
    """hbeat's takeover hop by hop (scenarios.BREAKDOWN: the survivor's journal
    stamps the decision and the executor's spawn and exit of each script), with
    the targets: stonith frame within deadtime + 2 ms, start within deadtime +
    10 ms plus the scripts' own time (p99)."""
    cols = [(p, f"{p}/hbeat") for p in ("classic", "fast")
            if (failover.get(f"{p}/hbeat") or {}).get("breakdown")]
    if not cols:
        return []
    lines = ["| hop | " + " | ".join(f"{p} p50 / p99 / max ms" for p, _ in cols) + " |",
             "|---|" + "---:|" * len(cols)]
    for key, text in HOPS:
        cells = []
        for _, k in cols:
            v = failover[k]["breakdown"].get(key) or {}
            cells.append(f"{_f(v.get('p50_ms'), 2)} / {_f(v.get('p99_ms'), 2)} / "
                         f"{_f(v.get('max_ms'), 2)}")
        lines.append(f"| {text} | {' | '.join(cells)} |")
    verdicts = []
    for p, k in cols:
        res = failover[k]
        over = (res.get("overshoot") or {}).get("p99_ms")
        net = (res["breakdown"].get("start_net_ms") or {}).get("p99_ms")
        verdicts.append(
            f"{p}: detection p99 deadtime + {_f(over, 2)} ms (target + 2: "
            f"{'met' if over is not None and over <= 2 else '**not met**'}), start p99 "
            f"deadtime + {_f(net, 2)} ms + the scripts' own time (target + 10: "
            f"{'met' if net is not None and net <= 10 else '**not met**'})")
    return [*lines, "", "; ".join(verdicts) + "."]


def false_death_table(fd: dict[str, dict[str, Any]]) -> list[str]:
    lines = ["| daemon | run s | loss measured on the wire (otter, weasel) | `is dead` events "
             "| stonith frames | link-dead events (eth1) |", "|---|---:|---:|---:|---:|---:|"]
    for kind in ("hbeat", "heartbeat"):
        res = fd.get(kind)
        if res is None:
            continue
        loss = ", ".join(_f(v, 1) + " %" for v in res["measured_loss_pct"].values())
        lines.append(f"| {kind} | {res['duration_s']:.0f} | {loss} | {res['node_dead']} "
                     f"| {res['stonith_frames']} | {res['link_dead']} |")
    return lines


def cost_conditions(cost: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{condition: {kind: result}}; results from before the cost conditions
    (one unnamed condition: bcast only, no resource, `realtime off`) are shown
    under that name."""
    if any(isinstance(v, dict) and "nodes" in v for v in cost.values()):
        return {"bcast only, no group, realtime off": cost}
    return cost


def _is_link(title: str) -> bool:
    return title.startswith("hbeat: ") and title.split()[1] in (
        "bcast", "mcast", "ucast", "serial")


def cost_table(cost: dict[str, Any]) -> list[str]:
    lines = ["| condition | daemon | node | processes | CPU % of one core (stat ticks / "
             "schedstat) | CPU hbeat / heartbeat | RSS MiB | PSS MiB | USS MiB "
             "| VmLck MiB per link worker | Locked MiB (resident) |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    mib = 1024
    for cond, kinds in cost_conditions(cost).items():
        hb = kinds.get("heartbeat")
        hb_ns = ({n: sum(p["cpu_pct_ns"] for p in ps) for n, ps in hb["nodes"].items()}
                 if hb else {})
        for kind in ("hbeat", "heartbeat"):
            res = kinds.get(kind)
            if res is None:
                continue
            for node, procs in res["nodes"].items():
                ticks = sum(p["cpu_pct_ticks"] for p in procs)
                ns = sum(p["cpu_pct_ns"] for p in procs)
                ratio = (f"{ns / hb_ns[node]:.1f}x" if kind == "hbeat" and hb_ns.get(node)
                         else "")
                links = [p.get("vmlck_kb", 0) / mib for p in procs if _is_link(p["title"])]
                vmlck = " / ".join(f"{v:.1f}" for v in links) if links else "-"
                locked = sum(p.get("locked_kb", 0) for p in procs) / mib
                lines.append(
                    f"| {cond} | {kind} | {node} | {len(procs)} | {ticks:.3f} / {ns:.3f} "
                    f"| {ratio} | {sum(p['rss_kb'] for p in procs) / mib:.1f} "
                    f"| {sum(p['pss_kb'] for p in procs) / mib:.1f} "
                    f"| {sum(p['uss_kb'] for p in procs) / mib:.1f} | {vmlck} "
                    f"| {locked:.1f} |")
    return lines


def cost_breakdown(cost: dict[str, Any]) -> list[str]:
    out = []
    conds = cost_conditions(cost)
    cond = next(iter(conds))
    for kind in ("hbeat", "heartbeat"):
        res = conds[cond].get(kind)
        if res is None:
            continue
        node, procs = next(iter(res["nodes"].items()))
        out.append(f"{kind} on {node}, {cond}, per process (MiB; largest mappings by PSS):")
        out.append("")
        for p in procs:
            top = ", ".join(f"{name} {kb / 1024:.1f}" for name, kb in p["top"][:5])
            out.append(f"- `{p['title']}`: CPU {p['cpu_pct_ns']:.3f} %, PSS "
                       f"{p['pss_kb'] / 1024:.1f}, USS {p['uss_kb'] / 1024:.1f}, VmLck "
                       f"{p.get('vmlck_kb', 0) / 1024:.1f}, Locked "
                       f"{p.get('locked_kb', 0) / 1024:.1f} ({top})")
        out.append("")
    return out


def _rate(rate: int) -> str:
    return "max" if rate == 0 else f"{rate:,}"


def attack_table(rows: dict[str, list[dict[str, Any]]]) -> list[str]:
    lines = [
        "| attack | daemon | rate asked /s | sent /s | reached otter's eth1 /s "
        "| dropped by otter's full socket buffers /s | otter keepalive p99 ms (own schedule) "
        "| keepalives seen / due | `is dead` otter, weasel | `Link dead` otter, weasel "
        "| otter log lines /s | distinct reasons | worst reason lines /s | otter CPU % "
        "| p99 < 5 ms, no death |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    attacks = list(dict.fromkeys(r["attack"] for rs in rows.values() for r in rs))
    for name in attacks:
        for kind in ("hbeat", "heartbeat"):
            for r in (x for x in rows.get(kind, []) if x["attack"] == name):
                dead, link = r["node_dead"], r["link_dead"]
                lines.append(
                    f"| {name} | {kind} | {_rate(r['rate_asked'])} | {r['sent_per_s']:,.0f} "
                    f"| {r['eth1_rx_per_s']:,.0f} | {r['rcvbuf_drops_per_s']:,.0f} "
                    f"| {_f(r['p99_ms'], 2)} | {r['keepalives_seen']} / {r['keepalives_expected']} "
                    f"| {', '.join(str(v) for v in dead.values())} "
                    f"| {', '.join(str(v) for v in link.values())} "
                    f"| {r['log_lines_per_s']:,.1f} | {r['reasons']} "
                    f"| {r['worst_reason_per_s']:,.1f} | {r['cpu_pct']:.0f} "
                    f"| {'yes' if r['ok'] else '**no**'} |")
    return lines


STOP_RULE = ", a daemon's steps of an attack ending at its first false death"


def attack_summary(rows: dict[str, list[dict[str, Any]]]) -> list[str]:
    lines = ["| attack | daemon | highest rate held (every step up to it: p99 < 5 ms, no "
             "false death) | sent /s at that step | highest rate with no false death "
             "(every step up to it) | sent /s, reached otter's eth1 /s, dropped by its "
             "socket /s at that step | worst reason lines /s over all steps |",
             "|---|---|---|---:|---|---:|---:|"]
    attacks = list(dict.fromkeys(r["attack"] for rs in rows.values() for r in rs))
    for name in attacks:
        for kind in ("hbeat", "heartbeat"):
            steps = [x for x in rows.get(kind, []) if x["attack"] == name]
            if not steps:
                continue
            best, alive = None, None
            for r in sorted(steps, key=lambda x: x["rate_asked"] or float("inf")):
                if not r["ok"]:
                    break
                best = r
            for r in sorted(steps, key=lambda x: x["rate_asked"] or float("inf")):
                if sum(r["node_dead"].values()):
                    break
                alive = r
            worst = max(r["worst_reason_per_s"] for r in steps)
            held = "none" if best is None else _rate(best["rate_asked"])
            sent = "-" if best is None else f"{best['sent_per_s']:,.0f}"
            lived = "none" if alive is None else _rate(alive["rate_asked"])
            rates = ("-" if alive is None else
                     f"{alive['sent_per_s']:,.0f}, {alive['eth1_rx_per_s']:,.0f}, "
                     f"{alive['rcvbuf_drops_per_s']:,.0f}")
            lines.append(f"| {name} | {kind} | {held} | {sent} | {lived} | {rates} "
                         f"| {worst:,.1f} |")
    return lines


def attack_examples(rows: dict[str, list[dict[str, Any]]]) -> list[str]:
    out = []
    for kind in ("hbeat", "heartbeat"):
        for r in rows.get(kind, []):
            if r["rate_asked"] == 0 and r["worst_reason"]:
                out.append(f"- {kind}, {r['attack']} at max: most frequent line "
                           f"({r['worst_reason_per_s']:,.1f}/s): `{r['worst_reason']}`")
    return out


def render(results: dict[str, Any], readme_notes: str = "") -> str:
    meta = results["meta"]
    lines = [
        "## Cluster: hbeat vs heartbeat 3.0.6 (keepalive jitter, failover, false deaths, cost)",
        "",
        "Written by `bench/run_all.py` (do not edit by hand between the markers). "
        "Each figure is measured for both daemons in the same run, two nodes per lab "
        "in network namespaces (tests/harness); times come from a nanosecond tcpdump "
        "in the lab's `client` namespace on the bridge and, for resource starts, from the "
        "`BenchProbe` resource script's own CLOCK_REALTIME stamp — never from a daemon log.",
        "",
        *([f"- Measured: {meta['date']}; command: `{meta['command']}`"] if "phases" not in meta
          else [f"- Phase `{phase}` measured {p['date']}; command: `{p['command']}`"
                for phase, p in meta["phases"].items()]),
        f"- Machine: {meta['machine']}",
        "- Durations used: " + ("; ".join(f"{phase}: {p['durations']}"
                                          for phase, p in meta.get("phases", {}).items()
                                          if p.get("durations"))
                                or meta.get("durations", "")),
        f"- Capture timestamps: {meta['tstamp']}",
        "- Load on the shared machine during each phase (1-min loadavg min/mean/max; "
        "CPU busy % of both cores, all processes): "
        + "; ".join(f"{k}: {v}" for k, v in meta["load"].items()),
        "",
    ]
    if readme_notes:
        lines += [readme_notes.rstrip(), ""]
    jitter, failover = results.get("jitter", {}), results.get("failover", {})
    fd, cost = results.get("false_deaths", {}), results.get("cost", {})
    if jitter:
        lines += ["### Keepalive jitter at `keepalive 1`", ""]
        lines += [*jitter_table(jitter), ""]
        if results.get("limit"):
            lines += ["Loaded rows against the machine's limit (bench/cluster/gridlimit.c: "
                      "a C loop that only sleeps to the same 1 s grid with "
                      "clock_nanosleep(TIMER_ABSTIME), the worker's 30 µs spin and its "
                      "scheduling policy, run in weasel's namespace of the hbeat lab of the same "
                      "policy over the same window, sending one datagram a tick to the lab's "
                      "capturing host: judged on the same capture as the daemons; in "
                      "parentheses its own CLOCK_MONOTONIC stamps before the sendto):", ""]
            lines += [*limit_table(jitter, results["limit"]), ""]
        lines += ["Scheduling policies seen (policy/priority per process):", ""]
        lines += [*sched_lines(jitter), ""]
    if failover:
        lines += ["### Failure detection and failover (kill -9 of the whole active node)", ""]
        lines += [*failover_table(failover), ""]
        if any("overshoot" in r for r in failover.values()):
            lines += ["Where the time after the deadline goes (deadline = the victim's last "
                      "status on the wire + deadtime; the takeover runs the resource's "
                      "`status`, then its `start`; each stamp is the probe script's first "
                      "action, after the shell's start and a `date` fork):", ""]
            lines += [*breakdown_table(failover), ""]
        hops = hops_table(failover)
        if hops:
            lines += ["hbeat's takeover hop by hop (the survivor's decision journal: "
                      "`node-dead` `decided_ns`, and each script's `spawn_ns`/`exit_ns` as "
                      "the executor forked and reaped it; docs/journal.md). The scripts' own "
                      "time is `status` spawn -> exit plus `start` spawn -> the probe's "
                      "stamp; the target is judged on the last row:", ""]
            lines += [*hops, ""]
        errors = [f"{k}: {e}" for k, r in failover.items() for e in r.get("errors", [])]
        if errors:
            lines += ["Failed kills (the survivor never started the resource; both nodes were "
                      "then restarted and the run went on):", "", "```"]
            lines += [e for e in errors] + ["```", ""]
            errors = []
        missing = {k: r["missing_stonith"] for k, r in failover.items() if r["missing_stonith"]}
        if errors or missing:
            lines += ["Problems: " + "; ".join(errors + [f"{k}: {v} kills without a stonith "
                                                         "frame" for k, v in missing.items()]),
                      ""]
    if fd:
        lines += ["### False deaths: fast profile, loaded, 20% loss on bcast eth1, serial clean",
                  ""]
        lines += [*false_death_table(fd), ""]
    if cost:
        lines += ["### Steady-state cost of a node (idle phase)", ""]
        lines += [*cost_table(cost), "", *cost_breakdown(cost)]
    if results.get("ops"):
        lines += ["### Operations: start-up, handover, stop, restart (classic profile, "
                  "`auto_failback on`)", "",
                  "bench/cluster/ops.py: from the operation (launch, or SIGTERM to the "
                  "daemon) to the `BenchProbe` start stamp of the node that must run svc1.", ""]
        lines += [*ops_table(results["ops"]), ""]
    att = results.get("attack", {})
    if att:
        am = results.get("attack_meta", {})
        lines += ["### Attack: otter of a running pair flooded from the lab's third host", "",
                  f"Fast profile (keepalive 100 ms, deadtime 500 ms, bcast eth1 only), "
                  f"{am.get('window_s', 0):.0f} s of flood per step"
                  f"{' (not the 60 s of the target)' if am.get('window_s', 0) < 60 else ''}, "
                  "steps one at a time"
                  f"{'' if am.get('keep_going', True) else STOP_RULE}. The "
                  f"flooder (bench/cluster/flood.c, sendmmsg) reaches "
                  f"{am.get('lab_max_rate', 0):,.0f} datagrams/s into an idle lab host on this "
                  "machine; `max` is that flooder unpaced at otter.", ""]
        lines += [*attack_summary(att), "", *attack_table(att), ""]
        lines += ["Most frequent log line of the flooded node at the highest rate:", ""]
        lines += [*attack_examples(att), ""]
    return "\n".join(lines) + "\n"
