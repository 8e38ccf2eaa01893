"""Every rule of the inferServer model, at both sides of each bound, and the messages."""

from __future__ import annotations

import json

import pytest

from stacks.settings.errors import SettingsError
from stacks.settings.stack import load_settings

from .helpers import DELETE, infer_server, secret_keys, set_path, stack_config


def load_with(changes: dict, stack: str = "dev", extra: dict | None = None):
    config = stack_config(stack)
    body = infer_server(stack)
    for dotted, value in changes.items():
        set_path(body, dotted, value)
    config["mindie:inferServer"] = json.dumps(body)
    config.update(extra or {})
    return load_settings(config.get, list(config), secret_keys(stack))


def error_of(changes: dict, **kw) -> str:
    with pytest.raises(SettingsError) as info:
        load_with(changes, **kw)
    return str(info.value)


RANGES = [
    ("replicas", 1, 256),
    ("service_port", 30000, 32767),
    ("init_delay", 10, 1800),
    ("liveness_timeout", 1, 600),
    ("readiness_timeout", 1, 600),
    ("liveness_failure_threshold", 1, 10),
    ("readiness_failure_threshold", 1, 10),
    ("termination_grace_period_seconds", 0, 3600),
    ("resource_requests.memory", 1000, 256000),
    ("resource_requests.cpu_core", 1000, 256000),
    ("resource_requests.npu_chip_num", 1, 8),
    ("mindie_server_config.infer_port", 1024, 65535),
    ("mindie_server_config.management_port", 1024, 65535),
]


@pytest.mark.parametrize(("field", "lo", "hi"), RANGES)
def test_range_accepts_both_ends(field, lo, hi):
    other = {"mindie_server_config.management_port": 2000} if field.endswith("infer_port") else {}
    if field.endswith("management_port"):
        other = {"mindie_server_config.infer_port": 2000}
    for value in (lo, hi):
        settings = load_with({field: value, **other})
        node = settings.infer_server
        for part in field.split("."):
            node = getattr(node, part)
        assert node == value


@pytest.mark.parametrize(("field", "lo", "hi"), RANGES)
def test_range_rejects_just_outside(field, lo, hi):
    for value in (lo - 1, hi + 1):
        message = error_of({field: value})
        assert f"mindie:inferServer.{field} = {value}: out of range: allowed {lo} to {hi}" in message


def test_memory_defaults_to_seed_value():
    assert load_with({"resource_requests.memory": DELETE}).infer_server.resource_requests.memory == 256000


@pytest.mark.parametrize(
    ("field", "bad", "allowed"),
    [
        ("resource_requests.npu_type", "Ascend310", "'Ascend910' or 'Ascend310P'"),
        ("service_type", "ClusterIP", "'NodePort'"),
        ("server_type", "mindie_multi_node", "'mindie_single_node' or 'mindie_cross_node'"),
        ("scheduler", "kube", "'default' or 'volcano'"),
    ],
)
def test_enums_name_allowed_values(field, bad, allowed):
    assert f"mindie:inferServer.{field} = '{bad}': must be one of {allowed}" in error_of({field: bad})


def test_cross_node_server_type_is_refused_by_the_program():
    assert "mindie_single_node only" in error_of({"server_type": "mindie_cross_node"})


@pytest.mark.parametrize("value", [2, 4])
def test_cross_node_num_accepts_2_and_4(value):
    assert load_with({"cross_node_num": value}).infer_server.cross_node_num == value


@pytest.mark.parametrize("value", [1, 3, 8])
def test_cross_node_num_rejects_others(value):
    assert f"cross_node_num = {value}: must be one of 2 or 4" in error_of({"cross_node_num": value})


@pytest.mark.parametrize("name", ["a", "m" * 48, "mindie-server", "s1"])
def test_server_name_valid(name):
    assert load_with({"server_name": name}).infer_server.server_name == name


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "1 to 48 characters"),
        ("m" * 49, "1 to 48 characters"),
        ("Mindie", "DNS-1123 label"),
        ("-mindie", "DNS-1123 label"),
        ("mindie-", "DNS-1123 label"),
        ("mindie_server", "DNS-1123 label"),
    ],
)
def test_server_name_invalid(name, reason):
    assert reason in error_of({"server_name": name})


@pytest.mark.parametrize("value", ["0%", "1%", "50%", "100%"])
def test_percent_valid(value):
    assert load_with({"max_surge": value, "max_unavailable": "25%"}).infer_server.max_surge == value


@pytest.mark.parametrize("value", ["101%", "-1%", "50", "50 %", "05%", "1.5%", "%"])
def test_percent_invalid(value):
    assert '"{int}%"' in error_of({"max_surge": value})


def test_percent_rejects_number():
    assert "must be a string" in error_of({"max_surge": 50})
    assert 'max_surge = 50: must be a string of the form "{int}%", e.g. "25%"' in error_of({"max_surge": 50})


def test_percent_form_named_in_optional_percent_of_a_group():
    """An Optional[Percent] inside a nested model gets the same message; other strings do not."""
    from stacks.settings.servers import ExtraGroup
    from stacks.settings.stack import _field_at, _is_percent

    assert _is_percent(_field_at(ExtraGroup, ("max_surge",)))
    assert _is_percent(_field_at(ExtraGroup, ("max_unavailable",)))
    assert not _is_percent(_field_at(ExtraGroup, ("server_name",)))
    assert not _is_percent(_field_at(ExtraGroup, ("image",)))


def test_both_zero_percent_rejected():
    message = error_of({"max_surge": "0%", "max_unavailable": "0%"})
    assert 'both "0%"' in message and "Kubernetes rejects" in message


def test_ports_must_differ():
    ports = {"mindie_server_config.infer_port": 1026, "mindie_server_config.management_port": 1026}
    message = error_of(ports)
    assert "infer_port and management_port are both 1026" in message


def test_install_path_absolute():
    assert "absolute path" in error_of({"mindie_server_config.mies_install_path": "usr/local/mindie"})


def test_strict_int_and_bool():
    message = error_of({"replicas": "2", "detect_server_inner_error": "yes"})
    assert "replicas = '2': must be an integer" in message
    assert "detect_server_inner_error = 'yes': must be true or false" in message


def test_float_is_not_an_int():
    assert "replicas = 2.5: must be a whole number (a JSON integer)" in error_of({"replicas": 2.5})
    assert "replicas = 1.5: must be a whole number (a JSON integer)" in error_of({"replicas": 1.5})
    assert "not a string" not in error_of({"replicas": 1.5})


def test_unknown_key_suggests_near_miss():
    assert 'resource_requests.npu_chips: unknown key (did you mean "npu_chip_num"?)' in error_of(
        {"resource_requests.npu_chips": 2}
    )


def test_missing_required_key_named():
    assert "mindie:inferServer.init_delay: required setting is missing" in error_of({"init_delay": DELETE})


def test_unknown_top_level_setting_suggests_near_miss():
    message = error_of({}, extra={"mindie:namespce": "x"})
    assert 'mindie:namespce: unknown setting (did you mean "namespace"?)' in message


def test_all_errors_reported_at_once():
    message = error_of({"replicas": 0, "init_delay": 5, "scheduler": "x"})
    assert message.count("\n  - ") == 3


def test_environment_required_and_closed():
    config = stack_config("dev")
    config["mindie:environment"] = "qa"
    with pytest.raises(SettingsError, match="environment = 'qa': must be one of 'dev', 'staging' or 'prod'"):
        load_settings(config.get, list(config), secret_keys("dev"))


def test_namespace_is_a_dns_label():
    with pytest.raises(SettingsError, match="mindie:namespace = 'Mindie'"):
        load_with({}, extra={"mindie:namespace": "Mindie"})


def test_render_and_cluster_are_exclusive():
    target = json.dumps({"renderYamlToDirectory": "out", "context": "prod"})
    with pytest.raises(SettingsError, match="renderYamlToDirectory cannot be combined"):
        load_with({}, extra={"mindie:kubernetes": target})


def test_object_setting_with_bad_json_names_position():
    with pytest.raises(SettingsError, match=r"mindie:kubernetes: not valid JSON \(.* line 1 column"):
        load_with({}, extra={"mindie:kubernetes": "{oops"})


def test_object_setting_that_is_not_json_says_it_must_be_an_object():
    config = stack_config("dev")
    config["mindie:inferServer"] = "oops"
    with pytest.raises(SettingsError) as info:
        load_settings(config.get, list(config))
    assert info.value.problems == [
        "mindie:inferServer: not valid JSON (Expecting value at line 1 column 1): must be an object"
    ]


def test_typo_in_the_project_prefix_is_reported():
    message = error_of({}, extra={"mindei:namespace": "x", "mndie:inferserver": "{}", "mindie_:zzz": "1"})
    assert 'mindei:namespace: unknown setting (did you mean "mindie:namespace"?)' in message
    assert 'mndie:inferserver: unknown setting (did you mean "mindie:inferServer"?)' in message
    assert "mindie_:zzz: unknown setting (the project prefix is mindie:)" in message


def test_other_namespaces_are_left_to_the_stack():
    settings = load_with({}, extra={"kubernetes:context": "prod", "pulumi:tags": "{}", "aws:region": "x"})
    assert settings.namespace == "mindie"


# --- shared facts: host paths and image references come from domain/ ----------------------------

HOST_PATH_TYPES = pytest.mark.parametrize("kind", ["servers", "ms_server"])


def host_path_error(kind: str, path: str) -> str:
    from pydantic import TypeAdapter, ValidationError

    from stacks.settings import ms_server, servers

    module = servers if kind == "servers" else ms_server
    with pytest.raises(ValidationError) as info:
        TypeAdapter(module.SafeHostPath).validate_python(path)
    return str(info.value)


@HOST_PATH_TYPES
@pytest.mark.parametrize("top", ["/home", "/etc", "/var/tmp", "/libx32", "/run"])
def test_host_paths_refuse_every_forbidden_directory_alike(kind, top):
    # One list (domain.host_paths) for the servers' and the ms-server's hostPaths, and the policy pack.
    for path in (top, f"{top}/mindie"):
        assert f"must not be under {top} (" in host_path_error(kind, path)


@HOST_PATH_TYPES
def test_host_paths_refuse_runtime_state_sockets_and_shared_directories(kind):
    from domain.host_paths import RUNTIME_PATHS, SHARED_TOP_LEVEL

    for path in RUNTIME_PATHS:  # /var/lib/kubelet, ...; /run/containerd is under /run already
        assert "Value error, must not be " in host_path_error(kind, f"{path}/x")
    assert "must not be a container runtime path (/var/lib/etcd)" in host_path_error(kind, "/var/lib/etcd")
    assert "must not be a socket" in host_path_error(kind, "/srv/app/agent.sock")
    for path in SHARED_TOP_LEVEL:
        assert "must be a dedicated directory" in host_path_error(kind, path)
    assert "must not be the node's root directory" in host_path_error(kind, "/")


def test_host_path_messages_suggest_a_dedicated_directory():
    assert "a dedicated directory such as /mnt/mindie-service/ms/model" in host_path_error("servers", "/etc")
    assert "e.g. /var/lib/mindie-ms" in host_path_error("ms_server", "/data")


def image_ok(kind: str, reference: str) -> bool:
    from pydantic import TypeAdapter, ValidationError

    from stacks.settings import images

    try:
        TypeAdapter(getattr(images, kind)).validate_python(reference)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize(
    "reference",
    [
        "mindie:server",
        "registry.example.com:5000/mindie/ms-server:2.0",
        f"localhost/ns/mindie:2.3.0-800I-A2@sha256:{'a' * 64}",
        f"mindie@sha256:{'0' * 64}",
    ],
)
def test_image_references_follow_one_grammar(reference):
    assert image_ok("ImageRef", reference) and image_ok("TaggedImageRef", reference)


@pytest.mark.parametrize(
    "reference",
    [
        "a//b:1",
        "ms..server:1",
        "Mindie:1",
        "mindie:-x",
        f"mindie@sha256:{'A' * 64}",
        "x" * 250 + ":12345",
    ],
)
def test_image_references_outside_the_grammar_are_refused(reference):
    # Before one grammar, the ms-server's and Motor's looser patterns accepted the first three.
    assert not image_ok("ImageRef", reference) and not image_ok("TaggedImageRef", reference)


def test_motor_images_name_a_tag_or_digest():
    assert image_ok("ImageRef", "registry/mindie") and not image_ok("TaggedImageRef", "registry/mindie")
    assert not image_ok("TaggedImageRef", "registry:5000/mindie")


# --- the settings package imports one way --------------------------------------------------------


def test_settings_modules_import_one_way():
    """No cycle among stacks.settings' modules (lazy and TYPE_CHECKING imports count), and no section
    imports the root (stack.py): what needs the whole Settings lives in stack.py."""
    import ast
    from pathlib import Path

    package = Path(__file__).resolve().parent.parent / "stacks" / "settings"
    edges: dict[str, set[str]] = {}
    for path in package.glob("*.py"):
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                found |= {node.module} if node.module else {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("stacks.settings"):
                rest = node.module.removeprefix("stacks.settings").lstrip(".")
                found |= {rest} if rest else {a.name for a in node.names}
        edges[path.stem] = {m.split(".")[0] for m in found} - {path.stem}
    assert [m for m, deps in edges.items() if "stack" in deps] == []

    def visit(module: str, trail: tuple[str, ...]) -> None:
        assert module not in trail, "import cycle: " + " -> ".join((*trail, module))
        for dep in sorted(edges.get(module, ())):
            visit(dep, (*trail, module))

    for module in edges:
        visit(module, ())
