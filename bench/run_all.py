"""Run every cluster benchmark (hbeat and heartbeat 3.0.6 side by side) and
rewrite the cluster section of bench/README.md with the measured tables.

    .venv/bin/python bench/run_all.py [--quick] [--duration S] [--false-death-duration S]
                                      [--reps N] [--phases idle,loaded,failover] [--merge]
                                      [--attack-window S] [--attacks garbage,...]
                                      [--attack-rates 1000,...,0] [--attack-keep-going]

Phases run one after the other; the scenarios of a phase run side by side in
separate labs: `idle` (jitter of hbeat, heartbeat and hbeat with the
supervisor stalled; then `cost`: CPU and memory of both daemons over
`--cost-duration` in the seed configuration, serial + bcast and one resource
group, with `realtime on`, `realtime off` and at keepalive 100 ms; `--phases
cost` runs that part alone), `loaded` (load
on every core plus a memory churner; jitter of both daemons with `realtime
off` and with `realtime on`, and the false-death runs of the fast profile with
20% loss), `failover` (classic and fast profiles, both daemons, `--reps`
kills each, four labs in threads), `attack` (not run by default: one node of
an hbeat pair and of a heartbeat pair flooded from the lab's third host with
garbage, replayed frames and forged NS_rexmit at rising rates,
`--attack-window` seconds per step, `--attacks` and `--attack-rates` to run
some of them only; a daemon's steps of an attack stop at the first rate at which
a node declared the other dead, unless `--attack-keep-going`;
bench/cluster/attack.py), `ops` (not run by default: start-up, handover, stop
and restart of both daemons, `--ops-reps` repetitions; bench/cluster/ops.py).
The loaded phase also runs bench/cluster/gridlimit.c, the machine's limit for
a keepalive sender, beside its labs. Needs root. Results also go to
bench/cluster/results/latest.json; `--report-only` re-renders the README from it,
and `--merge` re-runs only some phases on top of it (e.g. `--merge --phases
idle` to measure the idle phase again on a quiet machine).
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.cluster import attack, gridlimit, ops, report, scenarios  # noqa: E402
from bench.cluster.daemons import CLASSIC, FAST  # noqa: E402
from bench.cluster.load import Load  # noqa: E402
from tests.harness import sweep_stale_labs  # noqa: E402

README = ROOT / "bench" / "README.md"
RESULTS = ROOT / "bench" / "cluster" / "results" / "latest.json"


def log(text: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {text}", flush=True)


class LoadMonitor:
    """Samples /proc/loadavg and whole-machine CPU busy % every 5 s in a thread."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _cpu() -> tuple[int, int]:
        vals = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = vals[3] + vals[4]
        return sum(vals) - idle, sum(vals)

    def _run(self) -> None:
        busy0, total0 = self._cpu()
        while not self._stop.wait(5):
            busy1, total1 = self._cpu()
            pct = 100 * (busy1 - busy0) / max(1, total1 - total0)
            busy0, total0 = busy1, total1
            self.samples.append((scenarios.loadavg()[0], pct))

    def __enter__(self) -> LoadMonitor:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def describe(self) -> str:
        if not self.samples:
            return "n/a"
        la = [s[0] for s in self.samples]
        busy = [s[1] for s in self.samples]
        return (f"loadavg {min(la):.2f}/{sum(la) / len(la):.2f}/{max(la):.2f}, "
                f"busy {sum(busy) / len(busy):.0f} %")


def wait_until(deadline: float) -> None:
    while time.monotonic() < deadline:
        time.sleep(min(5.0, max(0.0, deadline - time.monotonic())))


def phase_idle(args: argparse.Namespace, results: dict[str, Any]) -> None:
    runs = {
        "idle/hbeat": scenarios.JitterScenario("idle/hbeat", "hbeat"),
        "idle/heartbeat": scenarios.JitterScenario("idle/heartbeat", "heartbeat"),
        "stall/hbeat": scenarios.JitterScenario("stall/hbeat", "hbeat", stall=True),
    }
    try:
        for run in runs.values():
            run.begin()
        t0 = time.monotonic()
        log(f"idle phase: {len(runs)} labs running for {args.duration} s")
        wait_until(t0 + args.duration)
        for key, run in runs.items():
            results["jitter"][key] = run.finish()
    finally:
        for run in runs.values():
            run.close()
    phase_cost(args, results)


# The cost conditions: the seed configuration (serial + bcast, one resource
# group) with each daemon's default `realtime on`, with `realtime off`, and
# at keepalive 100 ms (the fast profile's timers).
COST_CONDITIONS = (
    ("seed, realtime on", CLASSIC, True),
    ("seed, realtime off", CLASSIC, False),
    ("seed, realtime on, keepalive 100 ms", FAST, True),
)


def phase_cost(args: argparse.Namespace, results: dict[str, Any]) -> None:
    """Every cost condition for both daemons, side by side, after the jitter
    labs are gone (the idle phase runs it; `--phases cost` alone too). It
    stamps its own date and command: run by the idle phase, its figures are
    not those of the last `--phases cost`."""
    results["meta"].setdefault("phases", {})["cost"] = {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"), "command": results["meta"]["command"]}
    runs = {(cond, kind): scenarios.CostScenario(f"cost/{cond}/{kind}", kind, profile,
                                                 realtime=realtime)
            for cond, profile, realtime in COST_CONDITIONS for kind in scenarios_kinds()}
    costs: dict[str, dict[str, Any]] = {cond: {} for cond, _, _ in COST_CONDITIONS}
    try:
        for run in runs.values():
            run.begin()
        log(f"cost: {len(runs)} labs measured for {args.cost_duration} s")
        threads = [threading.Thread(target=lambda c=c, k=k: costs[c].__setitem__(
            k, runs[(c, k)].finish_cost(args.cost_duration))) for c, k in runs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        results["cost"] = costs
    finally:
        for run in runs.values():
            run.close()


def phase_durations(phase: str, args: argparse.Namespace) -> str:
    """How long `phase` measured what, as the README's "Durations used" line
    gives it: kept with the phase, so a --merge run of other phases leaves it."""
    return {
        "idle": f"jitter {args.duration:.0f} s per condition, cost {args.cost_duration:.0f} s",
        "loaded": (f"jitter {args.duration:.0f} s per condition, false deaths "
                   f"{args.false_death_duration:.0f} s"),
        "failover": f"{args.reps} kills per profile and daemon",
        "cost": f"{args.cost_duration:.0f} s",
        "attack": f"{args.attack_window:.0f} s per step",
        "ops": f"{args.ops_reps} repetitions of each operation",
    }.get(phase, "")


def merge_base(old: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    """The previous results as the base of a --merge run: every phase they
    hold keeps its date and command (meta["phases"]) until it is run again;
    the run's own meta (date, command, machine) replaces the top level."""
    phases = old["meta"].get("phases") or {
        phase: {"date": old["meta"]["date"], "command": old["meta"]["command"]}
        for phase in old["meta"].get("load", {})}
    merged = dict(old)
    merged["meta"] = {**old["meta"], **{k: v for k, v in meta.items() if k != "load"},
                      "load": dict(old["meta"].get("load", {})), "phases": dict(phases)}
    if "loaded_by" in old["meta"]:
        merged["meta"]["loaded_by"] = old["meta"]["loaded_by"]
    return merged


def scenarios_kinds() -> tuple[str, str]:
    return ("hbeat", "heartbeat")


def phase_loaded(args: argparse.Namespace, results: dict[str, Any], load: Load) -> None:
    jit = {
        "loaded/hbeat": scenarios.JitterScenario("loaded/hbeat", "hbeat"),
        "loaded/heartbeat": scenarios.JitterScenario("loaded/heartbeat", "heartbeat"),
        "realtime/hbeat": scenarios.JitterScenario("realtime/hbeat", "hbeat", realtime=True),
        "realtime/heartbeat": scenarios.JitterScenario("realtime/heartbeat", "heartbeat",
                                                       realtime=True),
    }
    fds = {k: scenarios.FalseDeathScenario(f"false-deaths/{k}", k, FAST)
           for k in scenarios_kinds()}
    import tempfile

    exe = gridlimit.build(Path(tempfile.mkdtemp(prefix="hbeat-gridlimit-")))
    limits: dict[str, gridlimit.GridLimit] = {}
    try:
        load.start()
        # The machine's limit over the same window as the daemons' rows: one
        # bare sleeper per policy (bench/cluster/gridlimit.c) on the hbeat lab
        # of that policy, sending across its bridge to its capture.
        hosts = {"loaded": "loaded/hbeat", "realtime": "realtime/hbeat"}
        for key in hosts.values():
            jit[key].capture.bpf = f"udp port 694 or udp port {gridlimit.PORT}"
        for run in [*jit.values(), *fds.values()]:
            run.begin()
        for cond, key in hosts.items():
            lab = jit[key].lab
            assert lab.client is not None
            limits[cond] = gridlimit.GridLimit(
                exe, realtime=cond == "realtime", interval_ns=1_000_000_000,
                ticks=int(args.duration), dest=lab.client.ip, wrap=lab["weasel"].netns_argv)
        t0 = time.monotonic()
        log(f"loaded phase: jitter {args.duration} s, false deaths "
            f"{args.false_death_duration} s ({load.describe()})")
        wait_until(t0 + args.duration)
        results["limit"] = {cond: lim.finish() for cond, lim in limits.items()}
        for key, run in jit.items():
            results["jitter"][key] = run.finish()
            for cond, host in hosts.items():
                if host == key:  # its capture goes with the lab
                    results["limit"][cond]["wire"] = limits[cond].wire_summary(
                        Path(results["jitter"][key]["pcap"]))
            run.close()
        wait_until(t0 + args.false_death_duration)
        for key, fd in fds.items():
            results["false_deaths"][key] = fd.finish()
    finally:
        load.stop()
        for lim in limits.values():
            lim.close()
        for run in [*jit.values(), *fds.values()]:
            run.close()


def phase_failover(args: argparse.Namespace, results: dict[str, Any]) -> None:
    kinds = [k for k in scenarios_kinds() if k in args.failover_daemons.split(",")]
    profiles = [p for p in (CLASSIC, FAST) if p.name in args.failover_profiles.split(",")]
    runs = {f"{p.name}/{k}": scenarios.FailoverScenario(f"{p.name}/{k}", k, p, args.reps)
            for p in profiles for k in kinds}
    errors: dict[str, str] = {}

    def one(key: str) -> None:
        try:
            runs[key].run(progress=log)
        except Exception as exc:  # keep the other labs going; reported below
            errors[key] = repr(exc)
            log(f"{key}: {exc!r}")

    try:
        threads = [threading.Thread(target=one, args=(k,)) for k in runs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for key, run in runs.items():
            res = run.finish()
            if key in errors:
                res["errors"].append(errors[key])
            results["failover"][key] = res
    finally:
        for run in runs.values():
            run.close()


def phase_ops(args: argparse.Namespace, results: dict[str, Any]) -> None:
    """bench/cluster/ops.py for both daemons, one lab each, side by side."""
    runs = {k: ops.OpsScenario(k, args.ops_reps) for k in scenarios_kinds()}
    errors: dict[str, str] = {}

    def one(kind: str) -> None:
        try:
            runs[kind].run(progress=log)
        except Exception as exc:  # the other daemon's lab goes on; reported below
            errors[kind] = repr(exc)
            log(f"ops/{kind}: {exc!r}")

    try:
        threads = [threading.Thread(target=one, args=(k,)) for k in runs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        out = {}
        for kind, run in runs.items():
            res = run.finish()
            if kind in errors:
                res["errors"].append(errors[kind])
            out[kind] = res
        results["ops"] = out
    finally:
        for run in runs.values():
            run.close()


def phase_attack(args: argparse.Namespace, results: dict[str, Any]) -> None:
    import tempfile

    exe = attack.build_flooder(Path(tempfile.mkdtemp(prefix="hbeat-flood-")))
    lab_max = attack.lab_max_rate(exe)
    log(f"attack phase: the flooder reaches {lab_max:,.0f} datagrams/s into an idle lab host")
    names = [a for a in args.attacks.split(",") if a]
    rates = [int(r) for r in args.attack_rates.split(",") if r]
    unknown = sorted(set(names) - set(attack.ATTACKS))
    if unknown:
        raise SystemExit(f"ERROR: --attacks: unknown attack(s) {', '.join(unknown)} "
                         f"(known: {', '.join(attack.ATTACKS)})")
    results["attack_meta"] = {"window_s": args.attack_window, "lab_max_rate": lab_max,
                              "rates": rates, "attacks": names,
                              "keep_going": args.attack_keep_going, "profile": FAST.name}
    runs: dict[str, attack.AttackScenario] = {}
    kinds = args.attack_daemons.split(",")
    try:
        for kind in kinds:
            runs[kind] = attack.AttackScenario(kind, exe)
            runs[kind].begin()
        for name in names:
            died: set[str] = set()
            for rate in rates:
                for kind, run in runs.items():
                    if kind in died:
                        continue
                    row = run.step(name, rate, args.attack_window)
                    log(f"attack {name} {kind} rate {rate or 'max'}: sent "
                        f"{row['sent_per_s']:,.0f}/s, reached eth1 "
                        f"{row['eth1_rx_per_s']:,.0f}/s, socket drops "
                        f"{row['rcvbuf_drops_per_s']:,.0f}/s, dead {row['node_dead']}, log "
                        f"{row['log_lines_per_s']:.1f}/s, cpu {row['cpu_pct']:.0f} %")
                    if sum(row["node_dead"].values()) and not args.attack_keep_going:
                        died.add(kind)
                        log(f"attack {name} {kind}: a false death at this rate; "
                            "no higher rate for it")
                    time.sleep(2.0)  # let the pair settle before the next flood
        # Rows of daemons and attacks not run this time are kept (--merge).
        merged = dict(results.get("attack", {}))
        for kind, run in runs.items():
            rows = run.finish()
            kept = [r for r in merged.get(kind, []) if r["attack"] not in names]
            merged[kind] = [*kept, *rows]
        results["attack"] = merged
    finally:
        for run in runs.values():
            run.close()


def machine() -> str:
    model = next((ln.split(":", 1)[1].strip() for ln in
                  Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("model name")),
                 "?")
    import os

    hb = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "heartbeat"],
                        capture_output=True, text=True, check=False).stdout.strip()
    return (f"{os.cpu_count()} vCPU {model}, kernel {platform.release()}, Python "
            f"{platform.python_version()}, heartbeat {hb or '?'} (Debian package), shared "
            "with other engineers' test runs")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="short run: 30 s jitter, 60 s false deaths, 3 kills, 20 s cost")
    ap.add_argument("--duration", type=float, help="jitter seconds per condition (300)")
    ap.add_argument("--false-death-duration", type=float, help="seconds (600)")
    ap.add_argument("--reps", type=int, help="kills per profile and daemon (20)")
    ap.add_argument("--cost-duration", type=float, help="seconds (60)")
    ap.add_argument("--attack-daemons", default="hbeat,heartbeat",
                    help="which daemons the attack phase floods (with --merge, the "
                         "others keep their previous rows)")
    ap.add_argument("--attack-window", type=float,
                    help="seconds of flood per attack step (20; --quick 5; the target's "
                         "windows are 60)")
    ap.add_argument("--attacks", default=",".join(attack.ATTACKS),
                    help="which attacks the attack phase runs (with --merge, the others "
                         "keep their previous rows)")
    ap.add_argument("--attack-rates", default=",".join(map(str, attack.RATES)),
                    help="datagrams per second of each step, rising; 0 = unpaced "
                         "(the flooder's highest)")
    ap.add_argument("--attack-keep-going", action="store_true",
                    help="flood a daemon at every rate even after a false death")
    ap.add_argument("--failover-daemons", default="hbeat,heartbeat",
                    help="which daemons the failover phase kills (with --merge, the others "
                         "keep their previous rows)")
    ap.add_argument("--failover-profiles", default="classic,fast",
                    help="which profiles the failover phase runs (classic, fast)")
    ap.add_argument("--ops-reps", type=int, default=5,
                    help="repetitions of handover, start-up with the peer up and restart "
                         "(--phases ops)")
    ap.add_argument("--phases", default="idle,loaded,failover")
    ap.add_argument("--no-readme", action="store_true", help="do not touch bench/README.md")
    ap.add_argument("--no-analysis", action="store_true",
                    help="leave out bench/cluster/ANALYSIS.md (it is only included when its "
                         "title names the date of the run being rendered)")
    ap.add_argument("--merge", action="store_true",
                    help=f"start from {RESULTS.relative_to(ROOT)} and replace only the results "
                         "of the phases run (each phase keeps its own date and command)")
    ap.add_argument("--report-only", action="store_true",
                    help=f"re-render the README from {RESULTS.relative_to(ROOT)}")
    args = ap.parse_args(argv)
    quick = {"duration": 30.0, "false_death_duration": 60.0, "reps": 3, "cost_duration": 20.0,
             "attack_window": 5.0}
    full = {"duration": 300.0, "false_death_duration": 600.0, "reps": 20, "cost_duration": 60.0,
            "attack_window": 20.0}
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.false_death_duration = max(args.false_death_duration, args.duration)
    args.cost_duration = min(args.cost_duration, args.duration)

    if args.report_only:
        results = json.loads(RESULTS.read_text())
    else:
        sweep_stale_labs()
        command = " ".join(["python bench/run_all.py", *map(shlex.quote, argv or sys.argv[1:])])
        results = {"meta": {"date": time.strftime("%Y-%m-%d %H:%M %Z"), "command": command,
                            "machine": machine(), "load": {}, "tstamp": ""},
                   "jitter": {}, "false_deaths": {}, "failover": {}, "cost": {}}
        if args.merge and RESULTS.exists():
            results = merge_base(json.loads(RESULTS.read_text()), results["meta"])
        phases = args.phases.split(",")
        for phase in phases:
            log(f"phase {phase}")
            results["meta"].setdefault("phases", {})[phase] = {
                "date": time.strftime("%Y-%m-%d %H:%M %Z"), "command": command,
                "durations": phase_durations(phase, args)}
            with LoadMonitor() as mon:
                if phase == "idle":
                    phase_idle(args, results)
                elif phase == "loaded":
                    load = Load()
                    results["meta"]["loaded_by"] = load.describe()
                    phase_loaded(args, results, load)
                elif phase == "cost":
                    phase_cost(args, results)
                elif phase == "failover":
                    phase_failover(args, results)
                elif phase == "attack":
                    phase_attack(args, results)
                elif phase == "ops":
                    phase_ops(args, results)
                else:
                    ap.error(f"unknown phase {phase!r}")
            results["meta"]["load"][phase] = mon.describe()
        results["meta"]["tstamp"] = ("kernel receive time (tcpdump -j host, "
                                     "--time-stamp-precision=nano; veth offers no "
                                     "adapter_unsynced)")
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=1, default=str))
        log(f"results: {RESULTS}")
    notes_file = ROOT / "bench" / "cluster" / "NOTES.md"
    section = report.render(results, notes_file.read_text() if notes_file.exists() else "")
    # Hand-written readings of a run: ANALYSIS.md (the other phases) and
    # ATTACK.md, each included when its title names the date of a phase rendered.
    dates = [results["meta"]["date"], *(p["date"] for p in
                                        results["meta"].get("phases", {}).values())]
    for name in ("ANALYSIS.md", "ATTACK.md"):
        analysis = ROOT / "bench" / "cluster" / name
        if not analysis.exists() or args.no_analysis:
            continue
        text = analysis.read_text()
        if any(d in text.split("\n", 1)[0] for d in dates):
            section += "\n" + text
        else:
            log(f"{analysis.name} reads another run: left out (rewrite it for this one)")
    print(section)
    if not args.no_readme:
        README.write_text(report.replace_section(README.read_text(), section))
        log(f"rewrote the cluster section of {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
