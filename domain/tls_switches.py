"""Boolean keys of MindIE's generated JSON configs that switch TLS on a channel a single-node service uses."""

SERVER_SWITCHES = ("httpsEnabled", "tls_enable", "enable_tls", "enableTls")
"""MindIE Server config.json (client and management HTTPS), http_client_ctl.json (probes)."""
MS_SERVER_SWITCHES = ("client_k8s_tls_enable", "client_mindie_server_tls_enable", "server_tls_enable")
"""ms_server.json."""
MOTOR_SWITCHES = (
    "controller_server_tls_enable",
    "request_server_tls_enable",
    "mindie_client_tls_enable",
    "mindie_mangment_tls_enable",
    "external_tls_enable",
    "status_tls_enable",
    "alarm_client_tls_enable",
    "request_coordinator_tls_enable",
    "http_server_tls_enable",
    "alarm_tls_enable",
    "external_coordinator_tls_enable",
)
"""Motor: ms_coordinator.json / ms_controller.json channels that exist in single_node (MindIE's own
spelling, `mangment` included)."""

TLS_SWITCHES = frozenset(SERVER_SWITCHES + MS_SERVER_SWITCHES + MOTOR_SWITCHES)
"""The switches the policy requires on in staging and prod (and the only ones)."""

UNUSED_CHANNELS = ("interCommTLSEnabled", "interNodeTLSEnabled")
"""Not switches of TLS_SWITCHES on purpose: no PD or multi-node channel in single-node standard mode."""
UNUSED_COMPONENT_PREFIXES = ("etcd_", "cluster_", "ccae_")
"""Neither: the switches of components single_node does not run."""
