"""cl_status: heartbeat-compatible rendering and the command around it."""
