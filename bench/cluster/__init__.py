"""Heartbeat-latency benchmarks: hbeat and the real heartbeat 3.0.6 side by side.

Everything here runs clusters in the test harness's network-namespace labs
(tests/harness) and takes its timings from packet captures made in a
namespace of its own (the lab's client, on the bridge), never from the
daemons' logs. Modules: `stats` (pure: grid fit, percentiles, summaries),
`wire` (nanosecond tcpdump and frame decoding), `load` (machine load),
`daemons` (one interface over both daemons), `procstat` (CPU and memory from
/proc), `scenarios` (the measurements), `report` (tables and README sections).
"""
