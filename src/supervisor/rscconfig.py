"""What the resource machine needs from ha.cf/haresources, and its timers, checked.

`ResourcesConfig` is built by the daemon (`from_cluster`) and by the tests;
`resources` and its job runner read it. Timers are ms unless named `_s`.
"""

from __future__ import annotations

from dataclasses import dataclass

from hbeat.config.model import (
    AutoFailback,
    ClusterConfig,
    MonitorSpec,
    ResourceGroup,
    StonithDevice,
)

from .fencing import FencingConfig
from .jobrunner import RunnerTimers


@dataclass(frozen=True, slots=True)
class ResourcesConfig:
    """What the machine needs from ha.cf/haresources, and its timers (ms unless `_s`)."""

    local: str
    nodes: tuple[str, ...]
    groups: tuple[ResourceGroup, ...]
    auto_failback: AutoFailback
    rqstdelay_ms: int = 10000
    standby_timeout_ms: int = 10000
    stop_retry_max: int = 10
    stop_retry_delay_ms: int = 1000
    start_timeout_s: float = 120.0
    stop_timeout_s: float = 120.0
    status_timeout_s: float = 30.0
    result_grace_ms: int = 10000
    shutdown_wait_ms: int = 30000
    stop_failed_crit_ms: int = 60000
    shutdown_retry_ms: int = 30000
    stonith: tuple[StonithDevice, ...] = ()
    stonith_command: str = "/usr/sbin/stonith"
    fence_timeout_s: float = 120.0
    fence_retry_ms: int = 5000
    fence_retry_max_ms: int = 60000
    boot_takeover: str = "fenced"
    monitor: MonitorSpec | None = None  # ha.cf `monitor` (None: off)

    def __post_init__(self) -> None:
        if self.local not in self.nodes:
            raise ValueError(f"local node {self.local!r} is not among the nodes {list(self.nodes)}")
        if len(self.nodes) > 2:
            raise ValueError(
                f"haresources resource management supports one or two nodes, not "
                f"{len(self.nodes)} ({' '.join(self.nodes)}): heartbeat's local/foreign "
                f"holdings are a two-node notion"
            )
        keys: set[str] = set()
        for g in self.groups:
            if g.node not in self.nodes:
                raise ValueError(
                    f"haresources line {g.line}: node {g.node!r} is not a node of ha.cf"
                )
            if g.key in keys:
                raise ValueError(f"haresources line {g.line}: duplicate group key {g.key!r}")
            keys.add(g.key)
        for name in (
            "rqstdelay_ms",
            "standby_timeout_ms",
            "result_grace_ms",
            "shutdown_wait_ms",
            "stop_failed_crit_ms",
            "shutdown_retry_ms",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")

    @classmethod
    def from_cluster(cls, cfg: ClusterConfig, **timers: float) -> ResourcesConfig:
        """The resource view of `cfg` on a node of its resource pair
        (`cfg.resource_nodes`; on any other node there is nothing to run)."""
        return cls(
            local=cfg.node_name,
            nodes=cfg.resource_nodes,
            groups=tuple(cfg.groups),
            auto_failback=cfg.auto_failback,
            stonith=cfg.stonith_devices,
            boot_takeover=cfg.hacf.boot_takeover,
            monitor=cfg.hacf.monitor,
            **timers,  # type: ignore[arg-type]
        )

    def fencing_config(self) -> FencingConfig:
        return FencingConfig(self.stonith, self.stonith_command, self.fence_timeout_s,
                             self.fence_retry_ms, self.fence_retry_max_ms)

    def runner_timers(self) -> RunnerTimers:
        return RunnerTimers(
            start_timeout_s=self.start_timeout_s,
            stop_timeout_s=self.stop_timeout_s,
            status_timeout_s=self.status_timeout_s,
            result_grace_ms=self.result_grace_ms,
            stop_retry_max=self.stop_retry_max,
            stop_retry_delay_ms=self.stop_retry_delay_ms,
        )


__all__ = ["ResourcesConfig"]
