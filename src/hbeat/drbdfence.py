"""DRBD's fence-peer handler contract, as `hbeat outdate-peer` and the supervisor share it.

DRBD (`fencing resource-only;` or `resource-and-stonith;`) runs its
`fence-peer` handler when a Primary loses its replication link. The handler
must make sure the peer's disk cannot be promoted (mark it Outdated) and
says what happened by its exit status (drbd-utils' documented codes):

    3  the peer's disk was already Inconsistent
    4  the peer's disk is now (or was) Outdated
    5  the peer could not be reached (down, or no answer in time)
    6  the peer refused: it is Primary for that resource
    7  the peer was fenced (STONITH)

On the peer, `drbdadm outdate <resource>` does the marking; its status
maps to the codes above: 0 -> 4, 5 (disk Inconsistent) -> 3, 17 (refused
while Primary) -> 6. Anything else (drbdadm missing, another error, its
timeout) is not one of DRBD's answers: the handler exits 1, and DRBD logs
the helper as broken (docs/self-fencing.md).
"""

from __future__ import annotations

import re

PEER_INCONSISTENT = 3
PEER_OUTDATED = 4
PEER_UNREACHABLE = 5
PEER_PRIMARY = 6
PEER_FENCED = 7
FAILED = 1

MEANING = {
    PEER_INCONSISTENT: "peer's disk is Inconsistent",
    PEER_OUTDATED: "peer's disk is Outdated",
    PEER_UNREACHABLE: "peer is down or unreachable",
    PEER_PRIMARY: "peer is Primary and refused to be outdated",
    PEER_FENCED: "peer was fenced",
    FAILED: "outdating the peer failed",
}

_RESOURCE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]{0,63}")


def valid_resource(name: str) -> bool:
    """A DRBD resource name we pass to drbdadm (no option, no path, no space)."""
    return bool(_RESOURCE.fullmatch(name))


def code_for_drbdadm(rc: int | None) -> int:
    """The fence-peer code for the exit status of `drbdadm outdate` on the peer."""
    return {0: PEER_OUTDATED, 5: PEER_INCONSISTENT, 17: PEER_PRIMARY}.get(
        rc if rc is not None else -1, FAILED)
