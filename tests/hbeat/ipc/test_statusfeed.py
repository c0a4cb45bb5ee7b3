"""hbeat.ipc.statusfeed: the versions the daemon stamps, and what readers accept."""

from __future__ import annotations

import pytest

from hbeat.ipc.statusfeed import EVENT_SCHEMA, SNAPSHOT_SCHEMA, same_major


def test_versions_are_the_documented_ones() -> None:
    assert (SNAPSHOT_SCHEMA, EVENT_SCHEMA) == ("hbeat.status/1.3", "hbeat.event/1.3")


@pytest.mark.parametrize(("found", "ok"), [
    ("hbeat.status/1", True), ("hbeat.status/1.1", True), ("hbeat.status/1.9", True),
    ("hbeat.status/2", False), ("hbeat.status/11", False), ("hbeat.event/1.1", False),
    ("hbeat.status", False), (None, False), (1, False),
])
def test_same_major(found: object, ok: bool) -> None:
    assert same_major(found, SNAPSHOT_SCHEMA) is ok
