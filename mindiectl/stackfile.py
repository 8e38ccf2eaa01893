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
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from . import runtime


class StackFileError(Exception):
    """A stack file that cannot be read (missing, not YAML, undecryptable secret)."""


@dataclass
class StackConfig:
    stack: str
    path: Path
    config: dict[str, str] = field(default_factory=dict)
    secret_keys: list[str] = field(default_factory=list)


def stack_dir() -> Path:
    """Where the Pulumi.<stack>.yaml files are: $MINDIE_STACK_DIR, else the project."""
    return runtime.work_dir()


def stack_path(stack: str, project_dir: Path | None = None) -> Path:
    return (project_dir or stack_dir()) / f"Pulumi.{stack}.yaml"


def round_trip_yaml() -> YAML:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    return yaml


def read_document(path: Path) -> Any:
    """The stack file as a round-trip document (comments kept); {} when absent."""
    if not path.exists():
        return round_trip_yaml().load("config: {}\n")
    try:
        doc = round_trip_yaml().load(path.read_text())
    except Exception as err:  # ruamel raises many error types; all mean "not YAML"
        raise StackFileError(f"{path.name}: not valid YAML: {err}") from None
    return doc if doc is not None else round_trip_yaml().load("config: {}\n")


def write_document(path: Path, doc: Any) -> None:
    buf = io.StringIO()
    round_trip_yaml().dump(doc, buf)
    tmp = path.with_suffix(".yaml.tmp")
    tmp.write_text(buf.getvalue())
    os.replace(tmp, path)


def load(stack: str, project_dir: Path | None = None) -> StackConfig:
    """The stack's config as the Pulumi CLI would pass it to the program."""
    path = stack_path(stack, project_dir)
    if not path.exists():
        raise StackFileError(f"no stack file {path.name} (stacks: {', '.join(list_stacks(project_dir))})")
    return config_of(path, read_document(path), stack)


def config_of(path: Path, doc: Any, stack: str | None = None) -> StackConfig:
    """The program's view of a stack document: strings, secure values decrypted."""
    result = StackConfig(stack=stack or path.name[len("Pulumi."):-len(".yaml")], path=path)
    for key, value in (doc.get("config") or {}).items():
        key = str(key)
        if not _has_secure(value):
            result.config[key] = encode_value(value)
            continue
        plain = _decrypt_tree(path, doc, key, value)
        result.config[key] = plain if isinstance(plain, str) else encode_value(plain)
        result.secret_keys.append(key)
    return result


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


def _decrypt_tree(path: Path, doc: Any, key: str, value: Any) -> Any:
    """`value` with every nested {secure: ...} replaced by its plaintext."""
    if _is_secure(value):
        return decrypt_secure(path, doc, key, str(value["secure"]))
    if isinstance(value, dict):
        return {str(k): _decrypt_tree(path, doc, key, v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decrypt_tree(path, doc, key, v) for v in value]
    return value


def encode_value(value: Any) -> str:
    """A config value as the CLI encodes it for the program."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(_plain(value))


def _plain(value: Any) -> Any:
    """ruamel's commented containers as plain dict/list (for JSON)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


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


def set_secret(path: Path, key: str, plaintext: str) -> None:
    """`pulumi config set --secret [--path] <key> <value>`: `key` may be dotted below the
    config key (mindie:tls.rootCa.keyPem); comments and order of the file are kept."""
    doc = read_document(path)
    if doc.get("config") is None:
        doc["config"] = {}
    crypter = stack_crypter(path, doc, create=True)
    top, _, rest = key.partition(".")
    node = doc["config"]
    parts = [top, *rest.split(".")] if rest else [top]
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[parts[-1]] = {"secure": crypter.encrypt(plaintext)}
    write_document(path, doc)


def list_stacks(project_dir: Path | None = None) -> list[str]:
    folder = project_dir or stack_dir()
    return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in folder.glob("Pulumi.*.yaml"))


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
        for previous in reversed(order[:order.index(key)]):
            if previous in tgt:
                position = list(tgt).index(previous) + 1
                break
        else:
            position = 0 if order.index(key) == 0 else len(tgt)
    tgt.insert(position, key, value)
