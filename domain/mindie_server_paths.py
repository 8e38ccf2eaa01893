"""MindIE Server's file layout: where its files sit in the pod, which CA identities it reads, their modes.

One home for what the server component stages and mounts, the composition writes into config.json and
http_client_ctl.json, and the conformance suite checks.
"""


def service_install_path(user: str) -> str:
    """Where the mindie-service package is installed in an image whose user is `user` (its home):
    the seed's Dockerfile MIES_INSTALL_PATH, for the ms-server and the derived images alike."""
    return f"/home/{user}/mindie-service/latest"


MS_ROOT = "/mnt/mindie-service/ms"
"""The seed's host/container directory of the server's config, model, writable data and run.sh."""
CONFIG_DIR = f"{MS_ROOT}/config"
"""Staged (copied) config.json and http_client_ctl.json, read-only: MIES_CONFIG_JSON_PATH points here."""
CONFIG_JSON = f"{CONFIG_DIR}/config.json"
HTTP_CLIENT_CTL_JSON = f"{CONFIG_DIR}/http_client_ctl.json"
RUN_SH = f"{MS_ROOT}/run/run.sh"

CONFIG_MODE = 0o640
"""JSON configuration: Util.cpp FileToBuffer(..., 0640) / file_utils.cpp FILE_MODE_640."""
SECRET_MODE = 0o400
"""Certificates, keys, password files: Motor asks 0400 when files are checked (stricter than LLM's 0640)."""

# TLS files, relative to <mies_install_path> (MindIE-LLM's home: `CheckPath` refuses a file whose
# realpath is outside it). The staged `security/` tree is mounted at <mies_install_path>/security.
SECURITY_DIR = "security"
CA_DIR = "security/ca/"
"""config.json tlsCaPath and every *TlsCrlPath."""
SERVER_CA_FILE = "ca.pem"
SERVER_CERT = "security/certs/server.pem"
SERVER_KEY = "security/keys/server.key.pem"
MANAGEMENT_CA_FILE = "management_ca.pem"
MANAGEMENT_CERT = "security/certs/management_server.pem"
MANAGEMENT_KEY = "security/keys/management_server.key.pem"

SERVER_IDENTITIES = ("mindieserver", "mindieserver-mgmt", "mindieclient-mgmt")
"""CA identities a server pod mounts (TLS on): its two server certificates and the probes' client."""
SERVER_TLS_FILES: tuple[tuple[str, str, str], ...] = (
    # (identity, Secret key, path under <mies_install_path>) — config.json names exactly these.
    ("mindieserver", "ca.pem", f"{CA_DIR}{SERVER_CA_FILE}"),
    ("mindieserver", "cert.pem", SERVER_CERT),
    ("mindieserver", "cert.key.pem", SERVER_KEY),
    ("mindieserver-mgmt", "ca.pem", f"{CA_DIR}{MANAGEMENT_CA_FILE}"),
    ("mindieserver-mgmt", "cert.pem", MANAGEMENT_CERT),
    ("mindieserver-mgmt", "cert.key.pem", MANAGEMENT_KEY),
)
HTTP_CLIENT_DIR = "security/http_client"
"""The probes' client identity (mindieclient-mgmt) under <mies_install_path> (the image's default path)."""
