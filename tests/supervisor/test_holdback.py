"""supervisor/holdback.py: items held between hold and release, in order,
at most a limit of them; outside a hold nothing is kept."""

from __future__ import annotations

from supervisor.holdback import Holdback


def test_items_are_kept_only_while_holding_and_released_in_order() -> None:
    put: list[int] = []
    hb: Holdback[int] = Holdback(put.append, limit=3)
    assert not hb.holding and not hb.keep(0)  # not holding: the caller puts it
    hb.hold()
    hb.hold()  # a second hold keeps what is held
    assert hb.holding
    assert [hb.keep(i) for i in (1, 2, 3, 4)] == [True, True, True, False]
    assert put == []
    hb.release()
    assert put == [1, 2, 3] and not hb.holding
    hb.release()  # nothing held: nothing put
    assert put == [1, 2, 3]
