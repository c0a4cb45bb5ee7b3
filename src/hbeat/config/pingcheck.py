"""`hbeat check` on ping nodes and ipfail (docs/ipfail.md).

hbeat makes ipfail's decision itself and never runs the ipfail binary. It
is on when ha.cf names ping nodes and either says `ipfail on` (hbeat only)
or, with no `ipfail` directive, has the `respawn ... ipfail` line heartbeat
admins write. These checks say what hbeat makes of the lines and refuse
what ipfail itself refused. Pure: no I/O.
"""

from __future__ import annotations

from hbeat.config.model import AutoFailback, HaCf, Level, Problem


def ipfail_summary(hacf: HaCf) -> str:
    """One line for `hbeat check`: whether ipfail's decision is made, and why."""
    client = hacf.ipfail_client
    if not hacf.ping_nodes:
        return "off (no ping nodes)"
    if hacf.ipfail is False:
        return f"off (`ipfail off`, line {hacf.line_of('ipfail')})"
    if not hacf.ipfail_enabled:
        if hacf.auto_failback is AutoFailback.LEGACY and (hacf.ipfail or client):
            return "off (auto_failback legacy)"
        return "off (no `respawn ... ipfail` line and no `ipfail on`)"
    why = (f"`ipfail on`, line {hacf.line_of('ipfail')}" if hacf.ipfail
           else f"`{client.kind} {client.user} {client.command}`, line {client.line}"
           if client else "")
    return (f"on ({why}): hbeat itself hands its groups to the peer when it sees "
            "fewer ping nodes than the peer does (hb_standby all); the ipfail "
            "binary is not run")


def check_ipfail(hacf: HaCf) -> list[Problem]:
    out: list[Problem] = []
    path = hacf.path
    client = hacf.ipfail_client
    line = hacf.line_of("ipfail")
    if client is not None:
        head = f"{client.kind} {client.user} {client.command}"
        if not hacf.ping_nodes:
            out.append(Problem(path, client.line, Level.WARN,
                               f"{head}: ipfail counts ping nodes, and ha.cf has no `ping` "
                               "or `ping_group` line: it has nothing to do (hbeat does not "
                               "run the ipfail binary)"))
        elif hacf.ipfail is False:
            out.append(Problem(path, client.line, Level.WARN,
                               f"{head}: not run, and ipfail's decision is off (`ipfail "
                               f"off`, line {line}): remove one of the two lines"))
    if hacf.ipfail and not hacf.ping_nodes:
        out.append(Problem(path, line, Level.WARN,
                           "ipfail on: ha.cf has no `ping` or `ping_group` line, so there "
                           "is nothing to count: ipfail's decision stays off"))
    if ((hacf.ipfail or (hacf.ipfail is None and client is not None)) and hacf.ping_nodes
            and hacf.auto_failback is AutoFailback.LEGACY):
        out.append(Problem(path, line or (client.line if client else None), Level.WARN,
                           "ipfail does not work with auto_failback legacy (ipfail itself "
                           "refuses it: \"auto_failback set to incompatible legacy "
                           "option.\"): ipfail's decision stays off; set auto_failback on "
                           "or off"))
    return out
