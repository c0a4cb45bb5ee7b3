"""The memory floor of the design card's process model, before any work is done.

A node is a supervisor and three workers (two link workers, the executor),
each a CPython process: the workers are forked from the supervisor after it
has imported their code (`supervisor/forkstart.py`). `measure` starts a
fresh interpreter that imports a set of modules, freezes its objects as the
supervisor does, forks children that only wait on a pipe, and reads the
Pss of the parent and the children from /proc/<pid>/smaps_rollup: what a
node of that shape holds before it runs a line of its own. The rows of
`main` add, in turn, the libraries the design card names and the daemon's
own modules; whatever the daemon does afterwards can only add to the last.

    .venv/bin/python -m bench.cluster.floor [--children 3] [--settle 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass

# Runs in the measured interpreter: argv[1] the modules, argv[2] the children.
# Every process waits on stdin; closing it ends them all.
PROGRAM = """
import gc, importlib, os, sys
mods = [m for m in sys.argv[1].split(",") if m]
for m in mods:
    try:
        importlib.import_module(m)
    except Exception as e:
        print("error", m, type(e).__name__, e, flush=True)
        sys.exit(3)
gc.freeze()
kids = []
for _ in range(int(sys.argv[2])):
    pid = os.fork()
    if pid == 0:
        os.read(0, 1)
        os._exit(0)
    kids.append(pid)
print("pids", os.getpid(), *kids, len(sys.modules), flush=True)
os.read(0, 1)
for k in kids:
    os.waitpid(k, 0)
"""

CARD_LIBRARIES = ("zmq", "_cffi_backend", "serial", "setproctitle")

# The way `hbeat run` goes until its first fork (as tests/hbeat/test_cli_imports.py
# checks it): its parser, the supervisor, and the worker modules it imports
# before forking. Prints the modules then loaded.
DAEMON_WAY = """
import sys
from hbeat import cli
cli.build_parser(cli.requested_command(["run"])).parse_args(["run"])
import supervisor.daemon
from supervisor.forkstart import prewarm
for module in ("workers.link", "workers.executor", "workers.ping"):
    prewarm(module)
print(" ".join(sorted(sys.modules)))
"""


def daemon_modules() -> tuple[str, ...]:
    """Every module loaded when `hbeat run` first forks, by name, less the ones
    that cannot be imported by name (`__main__`, Cython's runtime records)."""
    out = subprocess.run([sys.executable, "-c", DAEMON_WAY], capture_output=True, text=True,
                         timeout=120, check=True).stdout.split()
    return tuple(m for m in out if m != "__main__" and "cython" not in m)


def rows() -> tuple[tuple[str, tuple[str, ...]], ...]:
    return (
        ("bare interpreter", ()),
        ("+ the design card's libraries (pyzmq, cffi, pyserial, setproctitle)",
         CARD_LIBRARIES),
        ("+ what `hbeat run` has loaded when it first forks", daemon_modules()),
    )


class FloorError(RuntimeError):
    """The measured interpreter could not be set up."""


@dataclass(frozen=True)
class Floor:
    pids: tuple[int, ...]  # the parent first
    modules: int  # len(sys.modules) in the parent
    pss_kib: int
    pss_anon_kib: int
    pss_file_kib: int
    private_dirty_kib: int


def rollup(pid: int) -> dict[str, int]:
    """The kB fields of /proc/<pid>/smaps_rollup."""
    fields: dict[str, int] = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            key, _, rest = line.partition(":")
            parts = rest.split()
            if len(parts) == 2 and parts[1] == "kB":
                fields[key] = int(parts[0])
    return fields


def measure(modules: tuple[str, ...], *, children: int = 3, settle: float = 2.0) -> Floor:
    """Pss of a parent that imported `modules` and `children` forked idle children."""
    proc = subprocess.Popen([sys.executable, "-c", PROGRAM, ",".join(modules), str(children)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        line = proc.stdout.readline().split()
        if not line or line[0] != "pids":
            proc.stdin.close()
            proc.wait(10)
            raise FloorError(f"floor: the measured interpreter (modules {','.join(modules)})"
                             f" failed: {' '.join(line[1:]) or f'exit {proc.returncode}'}")
        pids = tuple(int(p) for p in line[1:-1])
        time.sleep(settle)
        total: dict[str, int] = {}
        for pid in pids:
            for key, kib in rollup(pid).items():
                total[key] = total.get(key, 0) + kib
        return Floor(pids=pids, modules=int(line[-1]), pss_kib=total["Pss"],
                     pss_anon_kib=total["Pss_Anon"], pss_file_kib=total["Pss_File"],
                     private_dirty_kib=total["Private_Dirty"])
    finally:
        if not proc.stdin.closed:
            proc.stdin.close()
        proc.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--children", type=int, default=3)
    ap.add_argument("--settle", type=float, default=2.0)
    args = ap.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    src = os.path.join(here, "..", "..", "src")
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (os.path.normpath(src), os.environ.get("PYTHONPATH")) if p)
    print(f"{sys.executable} ({sys.version.split()[0]}), a parent and {args.children} "
          f"forked idle children, MiB")
    print(f"{'':72} {'modules':>7} {'Pss':>6} {'anon':>6} {'file':>6}")
    for label, modules in rows():
        f = measure(modules, children=args.children, settle=args.settle)
        print(f"{label:72} {f.modules:7} {f.pss_kib / 1024:6.1f} "
              f"{f.pss_anon_kib / 1024:6.1f} {f.pss_file_kib / 1024:6.1f}")


if __name__ == "__main__":
    main()
