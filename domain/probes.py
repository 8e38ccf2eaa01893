"""The seed's ranges for MindIE Server's probes (infer_server.json, table 2), inclusive."""

PROBE_TIMEOUT = (1, 600)
"""liveness_timeout / readiness_timeout, seconds."""
PROBE_FAILURE_THRESHOLD = (1, 10)
"""liveness_failure_threshold / readiness_failure_threshold."""
INIT_DELAY = (10, 1800)
"""init_delay, seconds: the startup probe's window (initialDelay + period x failureThreshold)."""
