"""The status feed's schema versions, shared by its publisher and its readers.

The supervisor stamps them (supervisor.feed on events, supervisor.commands
on snapshots); hbeat.statusview and hbeat.feedclient read them and accept
any minor version of the same major one. The fields are docs/status-feed.md,
whose field tables the tests hold the daemon to.
"""

from __future__ import annotations

SNAPSHOT_SCHEMA = "hbeat.status/1.3"
EVENT_SCHEMA = "hbeat.event/1.3"


def same_major(found: object, expected: str) -> bool:
    """`found` is of `expected`'s family and major version (`hbeat.status/1`,
    `hbeat.status/1.1` and `hbeat.status/1.7` all match `hbeat.status/1.1`)."""
    if not isinstance(found, str):
        return False
    family, _, version = expected.partition("/")
    f_family, _, f_version = found.partition("/")
    return f_family == family and f_version.split(".")[0] == version.split(".")[0]


__all__ = ["EVENT_SCHEMA", "SNAPSHOT_SCHEMA", "same_major"]
