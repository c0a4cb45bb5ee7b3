"""The executor's lease file (hbeat/ipc/leasefile.py): made by one process,
renewed and read by another, refused with a clear error when it is not one."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest

from hbeat.ipc.leasefile import MAGIC, SIZE, LeaseFile, LeaseFileError


def test_a_new_lease_is_private_unrenewed_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "executor.lease"
    made = LeaseFile.create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes() == MAGIC + bytes(8) and SIZE == 16
    joined = LeaseFile.open(path)
    assert joined.until_ns() == 0 and made.until_ns() == 0
    joined.renew(123_456_789_012)
    assert made.until_ns() == 123_456_789_012
    assert path.read_bytes() == MAGIC + (123_456_789_012).to_bytes(8, "little")
    made.renew(0)  # the supervisor's reset
    assert joined.until_ns() == 0
    joined.close()
    made.close()


def test_create_replaces_an_old_file_and_leaves_its_mapping_alone(tmp_path: Path) -> None:
    path = tmp_path / "executor.lease"
    old = LeaseFile.create(path)
    old.renew(77)
    new = LeaseFile.create(path)  # a new inode: the old mapping is not truncated under it
    assert new.until_ns() == 0 and old.until_ns() == 77
    old.renew(78)  # no SIGBUS: the old file still has its 16 bytes
    joined = LeaseFile.open(path)
    assert joined.until_ns() == 0
    for lease in (joined, new, old):
        lease.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["executor.lease"]


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nothing.lease"
    with pytest.raises(LeaseFileError, match=rf"cannot open lease file {re.escape(str(path))}: "
                                             "No such file or directory"):
        LeaseFile.open(path)


@pytest.mark.parametrize("content", [b"", MAGIC, MAGIC + bytes(9), bytes(4096)])
def test_a_file_of_the_wrong_size_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "executor.lease"
    path.write_bytes(content)
    with pytest.raises(LeaseFileError, match=rf"lease file {re.escape(str(path))} has "
                                             rf"{len(content)} bytes, not 16"):
        LeaseFile.open(path)


def test_a_file_with_another_magic_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "seqboard"
    path.write_bytes(b"HBSEQBD4" + bytes(8))
    where = re.escape(str(path))
    with pytest.raises(LeaseFileError,
                       match=rf"lease file {where} starts with b'HBSEQBD4', not b'HBLEASE1'"):
        LeaseFile.open(path)


def test_two_processes_see_each_others_renewals(tmp_path: Path) -> None:
    """A real fork: the child joins the file by its path, as the executor does."""
    path = tmp_path / "executor.lease"
    lease = LeaseFile.create(path)
    to_child_r, to_child_w = os.pipe()
    to_parent_r, to_parent_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: renew, wait for the parent's word, read it, answer
        code = 1
        try:
            os.close(to_child_w)
            os.close(to_parent_r)
            child = LeaseFile.open(path)
            child.renew(1_000)
            os.write(to_parent_w, b"r")
            if os.read(to_child_r, 1) == b"r" and child.until_ns() == 2_000:
                child.renew(3_000)
                code = 0
            os.write(to_parent_w, b"d")
        finally:
            os._exit(code)
    os.close(to_child_r)
    os.close(to_parent_w)
    try:
        assert os.read(to_parent_r, 1) == b"r"
        assert lease.until_ns() == 1_000  # the child's renewal
        lease.renew(2_000)
        os.write(to_child_w, b"r")
        assert os.read(to_parent_r, 1) == b"d"
        assert lease.until_ns() == 3_000  # the child read ours, then renewed again
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(to_child_w)
        os.close(to_parent_r)
    assert os.waitstatus_to_exitcode(status) == 0
