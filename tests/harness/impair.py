"""Packet impairment on a namespace's interface: loss, duplication, reordering.

Uses `tc qdisc ... netem` where the kernel has sch_netem. Kernels without it
(this project's lab VM is one) get an nftables fallback on the output hook
that drops and duplicates packets at random; reordering and delay need netem
and raise a HarnessError saying so.
"""

from __future__ import annotations

from .procs import HarnessError, run

NFT_TABLE = "hbeat_impair"
_DUP_MARK = "0x48424c44"
_netem: dict[str, bool] = {}


def netem_supported(netns: str) -> bool:
    """Whether `tc ... netem` works here (probed once per process, on `lo` of `netns`)."""
    if "ok" not in _netem:
        probe = run(
            ["ip", "netns", "exec", netns, "tc", "qdisc", "add", "dev", "lo", "root", "netem"],
            check=False,
        )
        if probe.returncode == 0:
            run(["ip", "netns", "exec", netns, "tc", "qdisc", "del", "dev", "lo", "root"])
        _netem["ok"] = probe.returncode == 0
    return _netem["ok"]


def _pct(name: str, value: float) -> float:
    if not 0 <= value <= 100:
        raise HarnessError(f"{name} must be a percentage in 0..100, got {value!r}")
    return value


def _chance(pct: float) -> str:
    """An nft match true for `pct` percent of packets (per mille resolution)."""
    return "" if pct >= 100 else f"numgen random mod 1000 < {round(pct * 10)} "


def impair(
    netns: str,
    iface: str,
    *,
    loss: float = 0.0,
    duplicate: float = 0.0,
    reorder: float = 0.0,
    delay_ms: float = 0.0,
) -> str:
    """Impair packets leaving `iface` in `netns`; returns the mechanism used
    ('netem' or 'nft'). Replaces any earlier impairment of that interface."""
    loss, duplicate, reorder = (
        _pct("loss", loss),
        _pct("duplicate", duplicate),
        _pct("reorder", reorder),
    )
    clear(netns, iface)
    if netem_supported(netns):
        args = ["tc", "qdisc", "replace", "dev", iface, "root", "netem"]
        if reorder and not delay_ms:
            delay_ms = 10.0  # netem reorders only relative to a delay
        if delay_ms:
            args += ["delay", f"{delay_ms}ms"]
        if loss:
            args += ["loss", f"{loss}%"]
        if duplicate:
            args += ["duplicate", f"{duplicate}%"]
        if reorder:
            args += ["reorder", f"{reorder}%"]
        run(["ip", "netns", "exec", netns, *args])
        return "netem"
    if reorder or delay_ms:
        raise HarnessError(
            "reorder/delay need tc netem, and this kernel has no sch_netem "
            "(CONFIG_NET_SCH_NETEM); only loss and duplicate have an nftables fallback"
        )
    rules = []
    if duplicate:
        rules.append(
            f'oifname "{iface}" meta mark != {_DUP_MARK} {_chance(duplicate)}'
            f'meta mark set {_DUP_MARK} dup to ip daddr device "{iface}"'
        )
    if loss:
        rules.append(f'oifname "{iface}" {_chance(loss)}drop')
    script = (
        f"table ip {NFT_TABLE} {{\n"
        "  chain out { type filter hook output priority 0; policy accept;\n"
        + "".join(f"    {r}\n" for r in rules)
        + "  }\n}\n"
    )
    run(["ip", "netns", "exec", netns, "nft", "-f", "-"], input=script.encode())
    return "nft"


def clear(netns: str, iface: str) -> None:
    """Remove every impairment `impair` may have put on `iface` in `netns`."""
    qdisc = run(["ip", "netns", "exec", netns, "tc", "qdisc", "show", "dev", iface], check=False)
    if "netem" in qdisc.stdout:
        run(["ip", "netns", "exec", netns, "tc", "qdisc", "del", "dev", iface, "root"])
    tables = run(["ip", "netns", "exec", netns, "nft", "list", "tables"], check=False)
    if NFT_TABLE in tables.stdout:
        run(["ip", "netns", "exec", netns, "nft", "delete", "table", "ip", NFT_TABLE])
