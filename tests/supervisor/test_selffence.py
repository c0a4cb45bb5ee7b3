"""supervisor/selffence.py: which messages from the peer make this node fence itself."""

from __future__ import annotations

from supervisor import rscmessages as rm
from supervisor.selffence import fence_reason


def test_stonith_naming_us_while_we_run_groups() -> None:
    msg = rm.Stonith("otter", "weasel", "n_stnth")
    why = fence_reason("weasel", msg, holding=True)
    assert why == ("otter declared this node dead (stonith node=weasel result=n_stnth) "
                   "while it runs resource groups")
    assert fence_reason("weasel", msg, holding=False) is None  # nothing to stop
    assert fence_reason("otter", msg, holding=True) is None  # about someone else


def test_mach_down_report_while_we_run_groups() -> None:
    report = rm.ResourceReport("otter", rm.Hold.ALL, True, True, "mach_down")
    assert fence_reason("weasel", report, holding=True) is not None
    assert fence_reason("weasel", report, holding=True, peer_saw_shutdone=True) is None
    plain = rm.ResourceReport("otter", rm.Hold.LOCAL, True, True, None)
    assert fence_reason("weasel", plain, holding=True) is None
