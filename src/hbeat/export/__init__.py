"""Turning a heartbeat configuration into a Pacemaker/corosync one (`hbeat export`).

`plan.build_plan` reads the parsed `ClusterConfig` and decides what the
Pacemaker configuration holds (`plan.Plan`); `cib`, `crmsh` and `pcs`
render that plan in three syntaxes and `corosync` writes the matching
corosync.conf. Everything here is pure: strings in, strings out. The
mapping rules are in docs/export.md.
"""
