"""heartbeat's event hooks in the configuration directory: run or refuse.

heartbeat 3.0.6 runs `<config>/harc <event>` for some cluster messages,
which runs every `<config>/rc.d/<event>` script, and runs
`<config>/resource.d/startstop start|stop` around its own start and stop.
hbeat runs none of them, so a hook that would do something hbeat does not
do is refused (an ERROR from `hbeat check` and at start), never ignored:

* heartbeat's own rc.d scripts and harc, byte for byte as heartbeat 3.0.6
  ships them (`ask_resources`, `hb_takeover`, `ip-request`,
  `ip-request-resp`, `status`): they implement the haresources protocol,
  which hbeat implements itself (they are left behind when the heartbeat
  package is removed rather than purged). Accepted without a word.
* any other file in rc.d, or a stock name whose content differs (an edited
  hook): ERROR, naming the file; move the action into a resource script in
  haresources or a systemd unit ordered with hbeat.service.
* `resource.d/startstop`: ERROR; put it in a systemd drop-in for
  hbeat.service (`ExecStartPre=`/`ExecStopPost=`).

The stock contents are recognised by their SHA-256 (Debian's heartbeat
1:3.0.6-13). Apart from the `SystemProbe` it is handed, no I/O.
"""

from __future__ import annotations

import os

from hbeat.config.model import Level, Problem
from hbeat.config.probe import SystemProbe

STOCK_SHA256 = {
    "harc": "394ad861b62c3ca368397916a2026f57f97fd10490438a5d7903f40e316c5d5f",
    "rc.d/ask_resources": "c152bd16f9108c8430f1d0a8f1f4615efb0f12190a56bc1e066668a4f5c19700",
    "rc.d/hb_takeover": "2a867e92779ba6f0f9dc444690c9121e366466ca573a2b3d22f462d7c28b76d9",
    "rc.d/ip-request": "ddcd7bd757af52b8d0d2fb9d5be88d28c4bce4992b61e0ecf43746f2c28f5ee6",
    "rc.d/ip-request-resp": "fd3a080beef9bce32a206e233813680b258b0d02d5a5cc21ba1fa1d3094e4833",
    "rc.d/status": "1f1d6edbf0dee327cca9d43a047cd9265ede139654e906531e5563217295b4a5",
}
_MOVE = ("hbeat does not run heartbeat's rc.d hooks: move what it does into a resource "
         "script named in haresources, or a systemd unit ordered with hbeat.service, "
         "and remove the file")


def check_hooks(config_dir: str, probe: SystemProbe) -> list[Problem]:
    """ERRORs for every hook hbeat would otherwise silently not run."""
    out: list[Problem] = []
    harc = os.path.join(config_dir, "harc")
    digest = probe.file_sha256(harc)
    if digest is not None and digest != STOCK_SHA256["harc"]:
        out.append(Problem(harc, None, Level.ERROR,
                           "harc differs from heartbeat 3.0.6's: hbeat does not run harc "
                           "or its rc.d hooks; move your changes into a resource script "
                           "or a systemd unit, and remove the file"))
    rc_dir = os.path.join(config_dir, "rc.d")
    for name in probe.list_dir(rc_dir):
        path = os.path.join(rc_dir, name)
        stock = STOCK_SHA256.get(f"rc.d/{name}")
        digest = probe.file_sha256(path)
        if stock is not None and digest == stock:
            continue
        what = ("an edited copy of heartbeat's hook" if stock is not None
                else "a hook heartbeat would run for messages of type "
                     f"[{name}]")
        out.append(Problem(path, None, Level.ERROR, f"{what}: {_MOVE}"))
    startstop = os.path.join(config_dir, "resource.d", "startstop")
    if probe.script_state(startstop) != "missing":
        out.append(Problem(startstop, None, Level.ERROR,
                           "heartbeat runs resource.d/startstop when it starts and stops; "
                           "hbeat does not: put those commands in a systemd drop-in for "
                           "hbeat.service (ExecStartPre=, ExecStopPost=) and remove the file"))
    return out
