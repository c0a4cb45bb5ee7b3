"""CPU time and memory of a set of processes, read from /proc.

`cpu_ticks(pid)`: utime + stime from /proc/<pid>/stat (clock ticks);
`cpu_ns(pid)`: on-CPU time of all the process's threads, from
/proc/<pid>/task/*/schedstat (ns, finer; /proc/<pid>/schedstat alone is the
main thread's, which would leave out ZeroMQ's I/O threads);
`memory(pid)`: Rss, Pss, private (USS) and Locked (resident pages of locked
mappings, shared ones divided like Pss) from /proc/<pid>/smaps_rollup, and
VmLck (the locked address space, resident or not) from /proc/<pid>/status, kB;
`top_mappings(pid)`: the largest mappings by Pss from /proc/<pid>/smaps,
to say what the memory is.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)


def cpu_ns(pid: int) -> int:
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            continue  # a thread that ended between the listing and the read
    return total


def title(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()[:70]


@dataclass(frozen=True)
class Memory:
    rss_kb: int
    pss_kb: int
    uss_kb: int  # Private_Clean + Private_Dirty
    locked_kb: int = 0  # smaps_rollup Locked: RAM held by locked mappings (Pss-weighted)
    vmlck_kb: int = 0  # status VmLck: address space locked (mlockall counts every mapping)


def vmlck_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmLck:"):
            return int(line.split()[1])
    return 0


def memory(pid: int) -> Memory:
    values: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            values[key] = int(parts[0])
    return Memory(values.get("Rss", 0), values.get("Pss", 0),
                  values.get("Private_Clean", 0) + values.get("Private_Dirty", 0),
                  values.get("Locked", 0), vmlck_kb(pid))


def top_mappings(pid: int, n: int = 6) -> list[tuple[str, int]]:
    """(mapping, Pss kB) summed by file name ([heap], [anon] for anonymous)."""
    pss: dict[str, int] = defaultdict(int)
    current = "?"
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split()
        if not head:
            continue
        if "-" in head[0] and not head[0].endswith(":"):
            name = head[5] if len(head) > 5 else "[anon]"
            current = name.rsplit("/", 1)[-1]
        elif head[0] == "Pss:":
            pss[current] += int(head[1])
    return sorted(pss.items(), key=lambda kv: -kv[1])[:n]
