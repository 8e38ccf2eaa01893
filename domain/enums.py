"""Enumerated values of MindIE's and Kubernetes' configs (settings validate them, components write them)."""

from enum import StrEnum


class PullPolicy(StrEnum):
    """A container's `imagePullPolicy` (Kubernetes core/v1)."""

    ALWAYS = "Always"
    IF_NOT_PRESENT = "IfNotPresent"
    NEVER = "Never"


class MotorLogLevel(StrEnum):
    """`log_level` of Motor's ms_coordinator.json / ms_controller.json and of ms_server.json / msctl.json."""

    DEBUG = "DEBUG"
    INFO = "INFO"
    WARN = "WARN"
    ERROR = "ERROR"
    CRITICAL = "CRITICAL"


class ServerLogLevel(StrEnum):
    """MindIE Server's `MINDIE_LOG_LEVEL` spelling (capitalised words, unlike Motor's)."""

    DEBUG = "Debug"
    INFO = "Info"
    WARN = "Warn"
    ERROR = "Error"
    CRITICAL = "Critical"
