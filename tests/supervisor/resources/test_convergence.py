"""`convergence`: which doubly held groups an audit or a healed partition gives back."""

from __future__ import annotations

from dataclasses import dataclass

from hbeat.logfmt import Level
from supervisor import convergence as cv
from supervisor import rscmessages as rm
from supervisor.rscactions import FAILED, PARTIAL, RUNNING, STOP_FAILED, STOPPED, Log

Hold = rm.Hold
FOREIGN_LOG = Log(Level.ERROR, "Both machines own foreign resources!")
OURS_LOG = Log(Level.ERROR, "Both machines own our resources!")


@dataclass
class G:
    key: str
    state: str
    from_peer_failure: bool = False
    releasing: bool = False


def test_the_peer_holding_our_foreign_class_gets_its_groups_back() -> None:
    foreign = [G("b", RUNNING), G("a", PARTIAL), G("c", STOPPED), G("d", RUNNING, True),
               G("e", RUNNING, releasing=True)]
    a = cv.audit(Hold.LOCAL, foreign, [])
    assert a == cv.Audit([FOREIGN_LOG], ["b", "a"], False)
    assert cv.audit(Hold.NONE, foreign, []) == cv.Audit([], [], False)
    # handed to us after a failed start there, or being released: not a conflict
    assert cv.audit(Hold.LOCAL, foreign[2:], []) == cv.Audit([], [], False)


def test_the_peer_holding_our_groups_while_we_run_them() -> None:
    assert cv.audit(Hold.FOREIGN, [], [G("x", RUNNING)]) == cv.Audit([OURS_LOG], [], True)
    assert cv.audit(Hold.ALL, [G("y", RUNNING)], [G("x", RUNNING)]) == cv.Audit(
        [FOREIGN_LOG, OURS_LOG], ["y"], True
    )
    assert not cv.audit(Hold.FOREIGN, [], [G("x", STOPPED)]).ours_doubly_held
    for bad in (FAILED, STOP_FAILED):  # one of ours failed here: the peer keeps its copies
        assert not cv.audit(Hold.FOREIGN, [], [G("x", RUNNING), G("z", bad)]).ours_doubly_held


def test_legacy_partition_heal() -> None:
    foreign = [G("b", RUNNING), G("a", PARTIAL), G("c", STOPPED), G("d", RUNNING, True)]
    assert cv.partition_copies(foreign) == ([FOREIGN_LOG], ["b", "a", "d"])
    assert cv.partition_copies([G("c", STOPPED)]) == ([], [])
