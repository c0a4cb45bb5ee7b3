"""Resource cluster tests: failover, handover, standby/takeover and failures with real processes."""
