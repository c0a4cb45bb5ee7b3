"""Packet impairment of what a node sends: loss, duplication, reordering, delay.

Three mechanisms, chosen by `impair()` (which returns the one it used):

- 'netem': `tc qdisc ... netem` on the node's interface, where the kernel has
  sch_netem. It impairs every packet the interface sends.
- 'nft': no netem (this project's lab VM has none) and only loss and
  duplicate asked: a table on the node's output hook drops and duplicates its
  IPv4 packets at random (ARP and IPv6 untouched).
- 'relay': no netem and reorder or delay asked (or `force_relay`). In the
  lab's switch namespace a relay process (relay.py) reads the frames entering
  the bridge from the node's port and re-sends its IPv4 UDP frames on an
  injection veth `ri-<port>`, whose peer `rb-<port>` is a bridge port with MAC
  learning off (the bridge keeps finding the node on its own port). A
  bridge-family nftables table `hbeat_relay_<port>` drops the originals (IPv4
  UDP entering from the port) and keeps injected frames from going back to
  the node. The relay applies loss, duplicate and delay_ms to every frame and
  holds `reorder` percent of them an extra 1-2 x max(delay_ms, 20 ms), so
  later frames overtake them; decisions come from `random.Random(seed)`. Only
  IPv4 UDP (all the cluster's traffic) is impaired: ARP, ICMP and the rest
  pass directly and on time. Frames queued in the relay when it is cleared
  are lost.

`clear()` undoes any of them and is idempotent.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path

from . import relay
from .procs import HarnessError, Proc, run
from .waiting import LogWatcher, wait_for

NFT_TABLE = "hbeat_impair"
RELAY_TABLE = "hbeat_relay_"
DEFAULT_SEED = relay.DEFAULT_SEED
_DUP_MARK = "0x48424c44"
_netem: dict[str, bool] = {}
_relays: dict[tuple[str, str], Proc] = {}


@dataclass(frozen=True)
class SwitchPort:
    """Where a node's frames enter the lab bridge: what the relay needs.

    `netns` is the switch namespace, `port` the node's bridge port (the peer
    of its eth1, at most 12 characters), `log` the relay's output file."""

    netns: str
    port: str
    log: Path
    bridge: str = "br0"

    @property
    def inject(self) -> str:
        """The relay's end of the injection veth."""
        return f"ri-{self.port}"

    @property
    def bridge_end(self) -> str:
        """The injection veth's end that is a bridge port."""
        return f"rb-{self.port}"

    @property
    def table(self) -> str:
        return f"{RELAY_TABLE}{self.port}"


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
    switch: SwitchPort | None = None,
    seed: int = DEFAULT_SEED,
    force_relay: bool = False,
) -> str:
    """Impair packets leaving `iface` in `netns` (see the module docstring);
    returns the mechanism used: 'netem', 'nft' or 'relay'. `switch` is where
    the node's frames enter the bridge (needed for 'relay'); `seed` seeds the
    relay's decisions; `force_relay` uses the relay even where netem or nft
    would do. Replaces any earlier impairment of that interface."""
    loss, duplicate, reorder = (
        _pct("loss", loss),
        _pct("duplicate", duplicate),
        _pct("reorder", reorder),
    )
    if not (math.isfinite(delay_ms) and delay_ms >= 0):
        raise HarnessError(f"delay_ms must be a finite number >= 0, got {delay_ms!r}")
    clear(netns, iface, switch=switch)
    if netem_supported(netns) and not force_relay:
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
    if reorder or delay_ms or force_relay:
        if switch is None:
            raise HarnessError(
                "reorder/delay without netem (this kernel has no sch_netem) need the userspace "
                "relay, and the relay needs the node's bridge port: pass switch=SwitchPort(...)"
            )
        _start_relay(switch, relay.Impairment(loss, duplicate, reorder, delay_ms), seed)
        return "relay"
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


def _start_relay(sw: SwitchPort, imp: relay.Impairment, seed: int) -> None:
    """Injection veth, relay process (ready), then the table that stops the originals."""
    ip = ["ip", "-n", sw.netns]
    if run([*ip, "link", "show", "dev", sw.port], check=False).returncode != 0:
        raise HarnessError(f"relay: no bridge port {sw.port!r} in switch namespace {sw.netns}")
    try:
        run([*ip, "link", "add", sw.inject, "type", "veth", "peer", "name", sw.bridge_end])
        for end in (sw.inject, sw.bridge_end):
            run([*ip, "link", "set", end, "addrgenmode", "none"])  # no IPv6 chatter of its own
        run([*ip, "link", "set", sw.bridge_end, "master", sw.bridge])
        run([*ip, "link", "set", sw.bridge_end, "type", "bridge_slave", "learning", "off"])
        for end in (sw.inject, sw.bridge_end):
            run([*ip, "link", "set", end, "up"])
        log = LogWatcher(sw.log)
        proc = Proc(
            [
                "ip", "netns", "exec", sw.netns, sys.executable, relay.__file__,
                "--capture", sw.port, "--inject", sw.inject,
                "--loss", str(imp.loss), "--duplicate", str(imp.duplicate),
                "--reorder", str(imp.reorder), "--delay-ms", str(imp.delay_ms),
                "--seed", str(seed),
            ],
            sw.log,
            name=f"relay for {sw.port}",
        )  # fmt: skip
        _relays[(sw.netns, sw.port)] = proc

        def ready() -> bool:
            proc.check_alive(f"starting the relay for {sw.port}")
            return log.poll(r"^relay ready") is not None

        wait_for(ready, 10, what=f"relay for {sw.port} ready", describe=log.text)
        script = (
            f"table bridge {sw.table} {{\n"
            "  chain forward { type filter hook forward priority 0; policy accept;\n"
            f'    iifname "{sw.port}" ether type ip ip protocol udp drop\n'
            f'    iifname "{sw.bridge_end}" oifname "{sw.port}" drop\n'
            f'    oifname "{sw.bridge_end}" drop\n'
            "  }\n}\n"
        )
        run(["ip", "netns", "exec", sw.netns, "nft", "-f", "-"], input=script.encode())
    except BaseException:
        _clear_switch(sw)
        raise


def stop_relay(sw: SwitchPort) -> None:
    """Stop the relay process for `sw`, if one runs (leaves the table and veth)."""
    proc = _relays.pop((sw.netns, sw.port), None)
    if proc is not None:
        proc.stop()


def _clear_switch(sw: SwitchPort) -> None:
    stop_relay(sw)
    nft = ["ip", "netns", "exec", sw.netns, "nft"]
    tables = run([*nft, "list", "tables", "bridge"], check=False)
    if f"table bridge {sw.table}\n" in tables.stdout + "\n":
        run([*nft, "delete", "table", "bridge", sw.table])
    if run(["ip", "-n", sw.netns, "link", "show", "dev", sw.inject], check=False).returncode == 0:
        run(["ip", "-n", sw.netns, "link", "del", sw.inject])  # takes its peer along


def clear(netns: str, iface: str, *, switch: SwitchPort | None = None) -> None:
    """Remove every impairment `impair` may have put on `iface` in `netns`
    (and, given `switch`, the node's relay, its table and veth)."""
    qdisc = run(["ip", "netns", "exec", netns, "tc", "qdisc", "show", "dev", iface], check=False)
    if "netem" in qdisc.stdout:
        run(["ip", "netns", "exec", netns, "tc", "qdisc", "del", "dev", iface, "root"])
    tables = run(["ip", "netns", "exec", netns, "nft", "list", "tables"], check=False)
    if NFT_TABLE in tables.stdout:
        run(["ip", "netns", "exec", netns, "nft", "delete", "table", "ip", NFT_TABLE])
    if switch is not None:
        _clear_switch(switch)
