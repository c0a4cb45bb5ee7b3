"""bench/cluster/floor.py: a parent and its forked idle children are measured, then ended."""

from __future__ import annotations

import os

import pytest
from bench.cluster import floor


def _gone(pid: int) -> bool:
    return not os.path.exists(f"/proc/{pid}")


def test_measure_reads_the_parent_and_every_child_then_ends_them() -> None:
    f = floor.measure((), children=2, settle=0.1)
    assert len(f.pids) == 3 and len(set(f.pids)) == 3
    assert f.pss_kib > 0 and f.pss_anon_kib > 0 and f.pss_file_kib > 0
    assert f.pss_anon_kib + f.pss_file_kib <= f.pss_kib
    assert all(_gone(pid) for pid in f.pids)


def test_the_children_share_the_parents_pages() -> None:
    alone = floor.measure((), children=0, settle=0.1)
    family = floor.measure((), children=3, settle=0.1)
    # Three forked children that only wait add far less than three interpreters.
    assert family.pss_kib < 2 * alone.pss_kib


def test_imported_modules_are_in_the_measured_parent_and_cost_memory() -> None:
    bare = floor.measure((), children=1, settle=0.1)
    with_zmq = floor.measure(("zmq",), children=1, settle=0.1)
    assert with_zmq.modules > bare.modules
    assert with_zmq.pss_kib > bare.pss_kib + 1024  # pyzmq and libzmq: several MiB


def test_a_module_that_cannot_be_imported_is_named() -> None:
    with pytest.raises(floor.FloorError, match=r"no_such_module_here.*ModuleNotFoundError"):
        floor.measure(("json", "no_such_module_here"), children=1, settle=0.1)


def test_rollup_reads_kib_fields() -> None:
    fields = floor.rollup(os.getpid())
    assert fields["Pss"] >= fields["Pss_Anon"] > 0
    assert "Rss" in fields


def test_daemon_modules_are_what_hbeat_run_loads_and_can_be_imported_by_name() -> None:
    mods = floor.daemon_modules()
    assert {"supervisor.daemon", "workers.link", "workers.executor", "zmq"} <= set(mods)
    assert "__main__" not in mods and not any("cython" in m for m in mods)
    f = floor.measure(mods, children=0, settle=0.1)
    assert f.modules >= len(mods)
