"""Read and edit `Pulumi.<stack>.yaml` the way the Pulumi CLI does.

The CLI hands a program its config as strings: scalars as text, objects and
lists JSON-encoded. `load` does the same, so the mock run sees exactly what a
`pulumi up` would. Editing (`mindiectl import`, `promote`) goes through
ruamel.yaml in round-trip mode so that comments and key order survive.

Secrets: `secure:` values (top level, or nested inside an object as
`pulumi config set --secret --path` writes them) are decrypted with Pulumi's
passphrase secrets provider, byte-compatible with the CLI (see `PassphraseCrypter`);
a key holding any secret is passed to the program as a secret key, as the CLI does.
"""

from __future__ import annotations

import base64
import copy
import functools
import hashlib
import io
import json
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from . import runtime, safefs
from .plain_json import plain


class StackFileError(Exception):
    """A stack file that cannot be read (missing, not YAML, undecryptable secret)."""


# Limits of what a stack file may hold: beyond them a file is a mistake or an attack (an alias
# bomb, a 50 MB "path"), refused with a message before anything is expanded or validated.
MAX_STACK_FILE_BYTES = 1024 * 1024
MAX_STRING = 64 * 1024
"""Longest config string (a PEM chain or a kubeconfig fits many times)."""
MAX_DEPTH = 32
MAX_VALUES = 20_000
"""Most scalars a document may expand to (YAML aliases counted each time they are used)."""
MAX_INT = 2**63 - 1

STACK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
"""A stack name as it may appear in a file name (no '/', no '..')."""


def check_stack_name(stack: str) -> str:
    if not STACK_NAME.fullmatch(stack) or ".." in stack:
        raise StackFileError(
            f"--stack {excerpt(stack)}: not a stack name (1-100 letters, digits, '.', '_', '-'; "
            "starting with a letter or digit; no '/' or '..')"
        )
    return stack


def excerpt(value: object, limit: int = 40) -> str:
    """A short quoted excerpt of a value for a message (never the whole of a long value)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass
class StackConfig:
    stack: str
    path: Path
    config: dict[str, str] = field(default_factory=dict)
    secret_keys: list[str] = field(default_factory=list)
    """Top-level keys holding any secret (what the Pulumi CLI tells the program)."""
    secret_paths: list[str] = field(default_factory=list)
    """Every `secure:` leaf as a dotted config path (mindie:tls.rootCa.keyPem), for per-leaf checks."""
    _secret_values: list[str] = field(default_factory=list, repr=False)

    @property
    def secrets(self) -> list[str]:
        """secret_keys and secret_paths: what the settings check secrecy with, leaf by leaf."""
        return sorted(set(self.secret_keys) | set(self.secret_paths))

    def secret_values(self) -> list[str]:
        """The decrypted secrets (kept out of the offline state, see state.StackState)."""
        return list(self._secret_values)


def stack_dir() -> Path:
    """Where the Pulumi.<stack>.yaml files are: $MINDIE_STACK_DIR, else the project."""
    return runtime.work_dir()


def stack_path(stack: str, project_dir: Path | None = None) -> Path:
    return (project_dir or stack_dir()) / f"Pulumi.{check_stack_name(stack)}.yaml"


def round_trip_yaml() -> YAML:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    return yaml


def read_document(path: Path) -> Any:
    """The stack file as a round-trip document (comments kept); {} when absent.

    Bounded (size, nesting, expanded values, string and integer sizes) and typed: only
    mappings, lists, strings, numbers, booleans and null, as Pulumi config holds them."""
    if not path.exists() and not path.is_symlink():
        return round_trip_yaml().load("config: {}\n")
    try:
        data = safefs.read_limited(path, MAX_STACK_FILE_BYTES, "stack file")
    except safefs.UnsafePathError as err:
        raise StackFileError(str(err)) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise StackFileError(f"{path.name}: not UTF-8 text (byte {err.start}); save it as UTF-8") from None
    if _flow_depth(text) > MAX_DEPTH:
        raise StackFileError(f"{path.name}: nested more than {MAX_DEPTH} levels")
    try:
        doc = round_trip_yaml().load(text)
    except RecursionError:
        raise StackFileError(f"{path.name}: nested too deeply (at most {MAX_DEPTH} levels)") from None
    except Exception as err:  # ruamel raises many error types; all mean "not YAML"
        raise StackFileError(f"{path.name}: not valid YAML: {_yaml_problem(err)}") from None
    if doc is None:
        return round_trip_yaml().load("config: {}\n")
    if not isinstance(doc, dict):
        raise StackFileError(
            f"{path.name}: must be a YAML mapping (config:, encryptionsalt:, ...), not a {_kind(doc)}"
        )
    if doc.get("config") is not None and not isinstance(doc.get("config"), dict):
        raise StackFileError(
            f"{path.name}: config: must be a mapping of keys to values, not a {_kind(doc['config'])}"
        )
    _check_values(path, doc, "", 0, [0])
    return doc


_FLOW = re.compile(r"[\[\]{}]|'[^'\n]*'|\"(?:[^\"\\\n]|\\.)*\"")


def _flow_depth(text: str) -> int:
    """Deepest [ / { nesting outside quoted strings: refused before the (slow, recursive)
    YAML parser sees 100k brackets."""
    depth = deepest = 0
    for match in _FLOW.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif token in "]}":
            depth = max(depth - 1, 0)
    return deepest


def _yaml_problem(err: Exception) -> str:
    """ruamel's problem and position, without the excerpt of the file it quotes (a secret, or
    megabytes of one line, could be in it)."""
    problem = getattr(err, "problem", None) or str(err).splitlines()[0][:120] or type(err).__name__
    mark = getattr(err, "problem_mark", None)
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    return f"{str(problem)[:120]}{where}"


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "list"
    return "scalar" if not isinstance(value, dict) else "mapping"


def _check_values(path: Path, value: Any, where: str, depth: int, count: list[int]) -> None:
    """Refuse what Pulumi config cannot hold, naming the key (never printing the value)."""
    name = f"{path.name}: {where or '(document)'}"
    count[0] += 1
    if count[0] > MAX_VALUES:
        raise StackFileError(f"{path.name}: more than {MAX_VALUES} values (YAML aliases expanding?); refused")
    if depth > MAX_DEPTH:
        raise StackFileError(f"{name}: nested more than {MAX_DEPTH} levels")
    tag = getattr(getattr(value, "tag", None), "value", None)
    if tag is not None:
        raise StackFileError(f"{name}: YAML tag {excerpt(str(tag))} is not allowed (plain values only)")
    if isinstance(value, dict):
        for key, child in value.items():
            if not isinstance(key, str):
                raise StackFileError(f"{name}: key {excerpt(key)} must be a string")
            _check_values(path, child, f"{where}.{key}" if where else key, depth + 1, count)
    elif isinstance(value, list):
        for i, child in enumerate(value):
            _check_values(path, child, f"{where}[{i}]", depth + 1, count)
    else:
        _check_scalar(name, value)


def _check_scalar(name: str, value: Any) -> None:
    """A string, number, boolean or null within the limits; anything else is refused."""
    if isinstance(value, str):
        if len(value) > MAX_STRING:
            raise StackFileError(f"{name}: {len(value)} characters, more than the limit of {MAX_STRING}")
    elif isinstance(value, bool) or value is None:
        pass
    elif isinstance(value, int):
        if abs(value) > MAX_INT:
            raise StackFileError(f"{name}: integer out of range (at most {MAX_INT})")
    elif not isinstance(value, float):
        raise StackFileError(
            f"{name}: {_not_config_kind(value)} is not allowed "
            "in Pulumi config (strings, numbers, booleans, lists and mappings only)"
        )


def _not_config_kind(value: Any) -> str:
    """What a value Pulumi config cannot hold is, in YAML's words."""
    import datetime
    from collections.abc import Set

    what = {
        datetime.date: "a YAML date or time (quote it to make it a string)",
        bytes: "!!binary data",
        Set: "a !!set",
    }
    kind = next((text for t, text in what.items() if isinstance(value, t)), None)
    return kind or "a " + type(value).__name__ + " value"


def write_document(path: Path, doc: Any) -> None:
    """Atomically replace the stack file (mode and symlink kept), see safefs.atomic_write."""
    buf = io.StringIO()
    round_trip_yaml().dump(doc, buf)
    write_document_text(path, buf.getvalue())


def write_document_text(path: Path, text: str) -> None:
    try:
        safefs.atomic_write(path, text)
    except OSError as err:
        raise StackFileError(f"{path}: cannot write ({err.strerror or err})") from None


def load(stack: str, project_dir: Path | None = None) -> StackConfig:
    """The stack's config as the Pulumi CLI would pass it to the program."""
    path = stack_path(stack, project_dir)
    if not path.exists():
        raise StackFileError(f"no stack file {path.name} (stacks: {', '.join(list_stacks(project_dir))})")
    return config_of(path, read_document(path), stack)


def config_of(path: Path, doc: Any, stack: str | None = None) -> StackConfig:
    """The program's view of a stack document: strings, secure values decrypted."""
    result = StackConfig(stack=stack or path.name[len("Pulumi.") : -len(".yaml")], path=path)
    for key, value in (doc.get("config") or {}).items():
        key = str(key)
        if not _has_secure(value):
            result.config[key] = encode_value(value)
            continue
        clear = _decrypt_tree(path, doc, key, value, result._secret_values)
        result.config[key] = clear if isinstance(clear, str) else encode_value(clear)
        result.secret_keys.append(key)
        result.secret_paths.extend(_secure_paths(value, key))
    return result


def _secure_paths(value: Any, where: str) -> list[str]:
    if _is_secure(value):
        return [where]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _secure_paths(v, f"{where}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _secure_paths(v, f"{where}[{i}]")]
    return []


def _is_secure(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"secure"}


def _has_secure(value: Any) -> bool:
    if _is_secure(value):
        return True
    if isinstance(value, dict):
        return any(_has_secure(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_secure(v) for v in value)
    return False


def _decrypt_tree(path: Path, doc: Any, key: str, value: Any, found: list[str]) -> Any:
    """`value` with every nested {secure: ...} replaced by its plaintext (each added to `found`)."""
    if _is_secure(value):
        clear = decrypt_secure(path, doc, key, str(value["secure"]))
        found.append(clear)
        return clear
    if isinstance(value, dict):
        return {str(k): _decrypt_tree(path, doc, key, v, found) for k, v in value.items()}
    if isinstance(value, list):
        return [_decrypt_tree(path, doc, key, v, found) for v in value]
    return value


def encode_value(value: Any) -> str:
    """A config value as the CLI encodes it for the program."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(plain(value))


def decrypt_secure(path: Path, doc: Any, key: str, ciphertext: str) -> str:
    """Decrypt one `secure:` value of the stack file (passphrase secrets provider)."""
    crypter = stack_crypter(path, doc)
    try:
        return crypter.decrypt(ciphertext)
    except ValueError as err:
        raise StackFileError(f"{path.name}: {key}: cannot decrypt the secure value ({err})") from None


# --- Pulumi's passphrase secrets provider -----------------------------------------------------
# Verified against pulumi/pulumi sdk/go/common/resource/config/crypt.go and
# pkg/secrets/passphrase/manager.go:
#   key    = PBKDF2-HMAC-SHA256(passphrase, salt, 1_000_000 iterations, 32 bytes)
#   value  = "v1:" + b64(nonce, 12 bytes) + ":" + b64(AES-256-GCM ciphertext || 16-byte tag), no AAD
#   encryptionsalt = "v1:" + b64(salt, 8 bytes) + ":" + value("pulumi")  (proves the passphrase)

PASSPHRASE_ENV = "PULUMI_CONFIG_PASSPHRASE"
PASSPHRASE_FILE_ENV = "PULUMI_CONFIG_PASSPHRASE_FILE"
PBKDF2_ITERATIONS = 1_000_000
_CHECK_TEXT = "pulumi"


@functools.lru_cache(maxsize=8)
def _derive_key(passphrase: str, salt: bytes) -> bytes:
    # 1e6 PBKDF2 rounds take ~0.3 s: derive once per (passphrase, salt) per process.
    return hashlib.pbkdf2_hmac("sha256", passphrase.encode(), salt, PBKDF2_ITERATIONS, 32)


class PassphraseCrypter:
    """Encrypts and decrypts `secure:` values exactly like `pulumi config set --secret`."""

    def __init__(self, passphrase: str, encryption_salt: str):
        parts = encryption_salt.split(":", 2)
        if len(parts) != 3 or parts[0] != "v1":
            raise ValueError("malformed encryptionsalt (expected v1:<salt>:<check value>)")
        try:
            salt = base64.b64decode(parts[1], validate=True)
        except ValueError:
            raise ValueError("malformed encryptionsalt (salt is not base64)") from None
        self.encryption_salt = encryption_salt
        self._key = _derive_key(passphrase, salt)
        try:
            check = self.decrypt(parts[2])
        except ValueError:
            check = None
        if check != _CHECK_TEXT:
            raise ValueError("incorrect passphrase")

    @classmethod
    def new(cls, passphrase: str) -> PassphraseCrypter:
        """A fresh salt, as `pulumi stack init --secrets-provider passphrase` makes it."""
        salt = secrets.token_bytes(8)
        key = _derive_key(passphrase, salt)
        state = f"v1:{base64.b64encode(salt).decode()}:{_seal(key, _CHECK_TEXT)}"
        return cls(passphrase, state)

    def encrypt(self, plaintext: str) -> str:
        return _seal(self._key, plaintext)

    def decrypt(self, value: str) -> str:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        parts = value.split(":")
        if len(parts) != 3 or parts[0] != "v1":
            raise ValueError("not a v1 secure value")
        try:
            nonce = base64.b64decode(parts[1], validate=True)
            sealed = base64.b64decode(parts[2], validate=True)
        except ValueError:
            raise ValueError("secure value is not base64") from None
        if len(nonce) != 12:
            raise ValueError("nonce size is incorrect")
        try:
            return AESGCM(self._key).decrypt(nonce, sealed, None).decode()
        except InvalidTag:
            raise ValueError("authentication failed: wrong passphrase or corrupted value") from None


def _seal(key: bytes, plaintext: str) -> str:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = secrets.token_bytes(12)
    sealed = AESGCM(key).encrypt(nonce, plaintext.encode(), None)
    return f"v1:{base64.b64encode(nonce).decode()}:{base64.b64encode(sealed).decode()}"


def read_passphrase() -> str | None:
    """The passphrase the Pulumi CLI would use: $PULUMI_CONFIG_PASSPHRASE, else the _FILE."""
    if PASSPHRASE_ENV in os.environ:
        return os.environ[PASSPHRASE_ENV]
    file = os.environ.get(PASSPHRASE_FILE_ENV)
    if file:
        try:
            return Path(file).read_text().strip()
        except OSError as err:
            raise StackFileError(f"cannot read {PASSPHRASE_FILE_ENV}={file}: {err.strerror}") from None
    return None


def stack_crypter(path: Path, doc: Any, create: bool = False) -> PassphraseCrypter:
    """The crypter of a stack file (its `encryptionsalt:`); `create` adds a salt if none."""
    provider = doc.get("secretsprovider")
    if provider and provider != "passphrase":
        raise StackFileError(
            f"{path.name}: secrets provider {provider!r}: offline decryption supports "
            "the passphrase provider only (run `pulumi config` with the CLI instead)"
        )
    passphrase = read_passphrase()
    if passphrase is None:
        raise StackFileError(
            f"{path.name} holds secrets: set {PASSPHRASE_ENV} (or {PASSPHRASE_FILE_ENV}) to its "
            "passphrase, as for `pulumi up` (committed demo stacks: see docs/tls.md)"
        )
    salt = doc.get("encryptionsalt")
    try:
        if not salt:
            if not create:
                raise StackFileError(f"{path.name}: secure values but no encryptionsalt")
            crypter = PassphraseCrypter.new(passphrase)
            doc["encryptionsalt"] = crypter.encryption_salt
            return crypter
        return PassphraseCrypter(passphrase, str(salt))
    except ValueError as err:
        raise StackFileError(f"{path.name}: {err} (check {PASSPHRASE_ENV})") from None


def set_secret(path: Path, key: str, plaintext: str, force: bool = False) -> None:
    """`pulumi config set --secret [--path] <key> <value>`: `key` may be dotted below the
    config key (mindie:tls.rootCa.keyPem); comments and order of the file are kept.

    Only a leaf that exists (a value, or a `secure:` value) is replaced; a new key below an
    existing mapping is added. Replacing a whole mapping or list (its comments gone), turning a
    scalar into a mapping, or an empty path segment is refused unless `force`."""
    top, _, rest = key.partition(".")
    parts = [top, *rest.split(".")] if rest else [top]
    if any(not part for part in parts):
        raise StackFileError(f"{excerpt(key, 120)}: empty path segment ('..' or a leading/trailing '.')")
    doc = read_document(path)
    if doc.get("config") is None:
        doc["config"] = {}
    node = doc["config"]
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if not isinstance(child, dict) or _is_secure(child):
            if child is not None and not force:
                where = ".".join(parts[: i + 1])
                raise StackFileError(
                    f"{where}: is a {_kind(child) if not _is_secure(child) else 'secure value'}, not a "
                    f"mapping; storing {key} below it would replace it (use --force to do so)"
                )
            node[part] = {}
        node = node[part]
    current = node.get(parts[-1])
    if isinstance(current, (dict, list)) and not _is_secure(current) and not force:
        raise StackFileError(
            f"{key}: holds a {_kind(current)} (its keys and comments would be lost); give the path "
            f"of one value below it, e.g. {key}.<name> (or use --force)"
        )
    crypter = stack_crypter(path, doc, create=True)
    node[parts[-1]] = {"secure": crypter.encrypt(plaintext)}
    write_document(path, doc)


def list_stacks(project_dir: Path | None = None) -> list[str]:
    folder = project_dir or stack_dir()
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in folder.glob("Pulumi.*.yaml"))


# --------------------------------------------------------------------------- editing in place
# Shared by `mindiectl promote` (release keys) and `mindiectl import` (mindie:inferServer): a
# value is replaced key by key, so ruamel's comments, which hang on the keys, stay where they are.


def mirror(src: Mapping[str, Any], tgt: CommentedMap, key: Any) -> None:
    """tgt[key] := src[key], editing objects key by key so the target's comments stay."""
    s, t = src[key], tgt.get(key)
    if isinstance(s, Mapping) and isinstance(t, CommentedMap) and not _is_secure(t):
        for k in list(t):
            if k not in s:
                delete_keeping_comments(t, k)
        for k in s:
            mirror(s, t, k)
        return
    if key in tgt:
        if t != s:
            tgt[key] = copy.deepcopy(s)
    else:
        insert_like(tgt, src, key, copy.deepcopy(s))


def delete_keeping_comments(tgt: CommentedMap, key: Any) -> None:
    """del tgt[key], handing its comment (ruamel keeps the next lines' comments there) to the key before."""
    keys = list(tgt)
    comment = tgt.ca.items.pop(key, None) or _trailing_comment(tgt[key])
    del tgt[key]
    index = keys.index(key)
    if comment is not None and index > 0 and keys[index - 1] not in tgt.ca.items:
        tgt.ca.items[keys[index - 1]] = comment


def _trailing_comment(value: Any) -> Any:
    """The comment ruamel stores on the last key of a nested mapping (the lines after the block)."""
    while isinstance(value, CommentedMap) and len(value):
        last = list(value)[-1]
        if last in value.ca.items:
            return value.ca.items[last]
        value = value[last]
    return None


def insert_like(tgt: CommentedMap, src: Mapping[str, Any], key: Any, value: Any) -> None:
    """Add a key to tgt after the key that precedes it in src (else at the end)."""
    order = list(src)
    position = len(tgt)
    if key in order:
        for previous in reversed(order[: order.index(key)]):
            if previous in tgt:
                position = list(tgt).index(previous) + 1
                break
        else:
            position = 0 if order.index(key) == 0 else len(tgt)
    tgt.insert(position, key, value)
