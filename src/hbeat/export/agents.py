"""Which Pacemaker agent runs a haresources resource, and with which parameters.

heartbeat's resource.d scripts are mostly thin wrappers that turn their
`::` arguments into OCF_RESKEY_ variables and call an OCF agent; this
module knows those wrappers (read from resource-agents' documented
parameters, see docs/export.md) and maps a `Resource` to an `Agent`.
A script found in the init directory becomes `lsb:NAME` (a script in any
`resource.d` directory is a wrapper); any other resource.d script stays
`heartbeat:NAME` (Pacemaker runs it with its arguments as instance attributes `1`, `2`, ...). Pure.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePath

from hbeat.config.model import Resource


@dataclass(frozen=True, slots=True)
class Agent:
    """`standard[:provider]:type` and its instance attributes, in order."""

    standard: str
    provider: str | None
    type: str
    params: tuple[tuple[str, str], ...]
    id_hint: str
    """A readable base for the primitive id (`ip_10_0_0_100`, `fs_srv`)."""
    notes: tuple[str, ...] = ()

    @property
    def monitor_timeout(self) -> str:
        """The agent's advised monitor timeout (crmsh warns below it)."""
        return _MONITOR_TIMEOUT.get(self.type, "20s")

    @property
    def spec(self) -> str:
        if self.provider:
            return f"{self.standard}:{self.provider}:{self.type}"
        return f"{self.standard}:{self.type}"


_MONITOR_TIMEOUT = {"LVM-activate": "90s", "Filesystem": "40s"}


class Unmappable(ValueError):
    """The wrapper's arguments do not fit its OCF agent; fall back to heartbeat: class."""


def _ocf(type_: str, hint: str, *params: tuple[str, str | None],
         provider: str = "heartbeat", notes: tuple[str, ...] = ()) -> Agent:
    kept = tuple((k, v) for k, v in params if v)
    return Agent("ocf", provider, type_, kept, hint, notes)


def _split_ip(arg: str) -> tuple[str, str | None, str | None, str | None, str | None]:
    """`ip[/bits[/nic[:label][/broadcast]]]` (a number in the nic place is a broadcast)."""
    parts = arg.split("/")
    ip = parts[0]
    try:
        ipaddress.ip_address(ip)
    except ValueError as exc:
        raise Unmappable(f"[{ip}] is not an IP address") from exc
    bits = parts[1] if len(parts) > 1 and parts[1] else None
    nic = label = broadcast = None
    if len(parts) > 2 and parts[2]:
        if parts[2][0].isdigit():
            broadcast = parts[2]
        else:
            nic, _, label = parts[2].partition(":")
            label = label or None
            if len(parts) > 3 and parts[3]:
                broadcast = parts[3]
    return ip, bits, nic, label, broadcast


def _ipaddr(res: Resource) -> Agent:
    if len(res.args) != 1:
        raise Unmappable("IPaddr takes one argument")
    ip, bits, nic, label, broadcast = _split_ip(res.args[0])
    notes: tuple[str, ...] = ()
    if res.script == "IPaddr":
        notes = ("IPaddr (ifconfig aliases) becomes ocf:heartbeat:IPaddr2 (ip addr), "
                 "which does the same with iproute2",)
    return _ocf("IPaddr2", "ip_" + ip, ("ip", ip), ("cidr_netmask", bits), ("nic", nic),
                ("iflabel", label), ("broadcast", broadcast), notes=notes)


def _ipv6addr(res: Resource) -> Agent:
    if len(res.args) != 1:
        raise Unmappable("IPv6addr takes one argument")
    addr, _, rest = res.args[0].partition("/")
    bits, _, nic = rest.partition("/")
    return _ocf("IPv6addr", "ip6_" + addr, ("ipv6addr", addr), ("cidr_netmask", bits or None),
                ("nic", nic or None))


def _filesystem(res: Resource) -> Agent:
    if not 2 <= len(res.args) <= 4:
        raise Unmappable("Filesystem takes device::directory[::fstype[::options]]")
    names = ("device", "directory", "fstype", "options")
    return _ocf("Filesystem", "fs_" + res.args[1], *zip(names, res.args, strict=False))


def _lvm(res: Resource) -> Agent:
    if len(res.args) != 1:
        raise Unmappable("LVM takes one volume group")
    return _ocf("LVM-activate", "lvm_" + res.args[0], ("vgname", res.args[0]),
                ("vg_access_mode", "system_id"), ("activation_mode", "exclusive"),
                notes=("LVM becomes ocf:heartbeat:LVM-activate with vg_access_mode=system_id: "
                       "set system_id_source in /etc/lvm/lvm.conf on both nodes and give "
                       f"volume group {res.args[0]} a system ID (vgchange(8), option "
                       "systemid), or choose another vg_access_mode",))


def _named(type_: str, hint: str, names: tuple[str, ...],
           minimum: int = 0) -> Callable[[Resource], Agent]:
    def mapper(res: Resource) -> Agent:
        if not minimum <= len(res.args) <= len(names):
            raise Unmappable(f"{res.script} takes {minimum} to {len(names)} arguments")
        tail = "_".join(res.args[:1]) or type_.lower()
        return _ocf(type_, f"{hint}_{tail}" if res.args else hint,
                    *zip(names, res.args, strict=False))
    return mapper


def _sendarp(res: Resource) -> Agent:
    if len(res.args) != 1:
        raise Unmappable("SendArp takes ip/interface")
    ip, _, nic = res.args[0].partition("/")
    if not nic:
        raise Unmappable("SendArp needs ip/interface")
    return _ocf("SendArp", "arp_" + ip, ("ip", ip), ("nic", nic.split("/")[0]))


_WRAPPERS: dict[str, Callable[[Resource], Agent]] = {
    "IPaddr": _ipaddr,
    "IPaddr2": _ipaddr,
    "IPv6addr": _ipv6addr,
    "Filesystem": _filesystem,
    "LVM": _lvm,
    "MailTo": _named("MailTo", "mailto", ("email", "subject"), 1),
    "SendArp": _sendarp,
    "Delay": _named("Delay", "delay", ("startdelay", "stopdelay")),
    "IPsrcaddr": _named("IPsrcaddr", "srcaddr", ("ipaddress",), 1),
    "apache": _named("apache", "apache", ("configfile",)),
    "Xinetd": _named("Xinetd", "xinetd", ("service",), 1),
    "portblock": _named("portblock", "portblock", ("protocol", "portno", "action"), 3),
    "Raid1": _named("Raid1", "raid1", ("raidconf", "raiddev"), 2),
    "LinuxSCSI": _named("LinuxSCSI", "scsi", ("scsi",), 1),
    "ICP": _named("ICP", "icp", ("driveid", "device"), 2),
    "ServeRAID": _named("ServeRAID", "serveraid", ("serveraid", "mergegroup"), 2),
    "WAS": _named("WAS", "was", ("config",)),
    "db2": _named("db2", "db2", ("instance",), 1),
}


def is_drbddisk(res: Resource) -> bool:
    """`drbddisk::NAME`: becomes a promotable ocf:linbit:drbd clone, not a group member."""
    return res.script == "drbddisk" and len(res.args) == 1


def drbd_agent(res: Resource) -> Agent:
    return _ocf("drbd", "drbd_" + res.args[0], ("drbd_resource", res.args[0]),
                provider="linbit")


def agent_for(res: Resource, config_dir: str) -> Agent:
    """The agent for one group member (drbddisk::NAME is handled by the caller)."""
    path = PurePath(res.path) if res.path else None
    # the admin's <config>/resource.d, or a packaged resource.d directory;
    # anything else was found in the init directory
    in_resource_d = path is None or path.parent == PurePath(config_dir) / "resource.d" or (
        path.parent.name == "resource.d")
    if path is not None and not in_resource_d:
        notes: tuple[str, ...] = ()
        if res.args:
            notes = (f"{res.text}: init script with arguments; lsb:{res.script} is "
                     "called without them",)
        return Agent("lsb", None, res.script, (), res.script, notes)
    mapper = _WRAPPERS.get(res.script)
    if mapper is not None:
        try:
            return mapper(res)
        except Unmappable as exc:
            reason = f"{res.text}: {exc}; kept as heartbeat:{res.script}"
            return _heartbeat(res, (reason,))
    return _heartbeat(res, ())


def _heartbeat(res: Resource, notes: tuple[str, ...]) -> Agent:
    params = tuple((str(i), arg) for i, arg in enumerate(res.args, start=1))
    extra: tuple[str, ...] = ()
    if res.script == "drbddisk":
        extra = ("drbddisk without a resource name (all DRBD resources) has no "
                 "ocf:linbit:drbd equivalent; kept as heartbeat:drbddisk",)
    return Agent("heartbeat", None, res.script, params,
                 "_".join((res.script, *res.args)), notes + extra)
