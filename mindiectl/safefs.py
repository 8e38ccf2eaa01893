"""Writing the user's files without ever losing them: atomic writes, safe output folders, locks.

Every file mindiectl writes for the user (stack files, the offline state, build output) goes
through this module, so that a kill at any instant leaves each file wholly old or wholly new,
two runs on one stack never interleave, and nothing the tool did not create is ever deleted.

- `atomic_write`: a unique temp file in the same folder (O_EXCL|O_NOFOLLOW: a symlink planted at
  a temp name cannot redirect the write), fsync, rename over the target, fsync of the folder.
  The target's mode is kept (or set explicitly, independent of the umask); a target that is a
  symlink stays a symlink (its destination is replaced).
- `check_out_dir` / `replace_dir`: an output folder is replaced only when it is empty or carries
  this tool's marker file, and never when it is (or contains) the project, a stack file's
  folder or the state folder; the swap is an atomic exchange (renameat2 RENAME_EXCHANGE), so the
  destination is never absent; stale staging folders of killed runs are cleaned up by marker.
- `stack_lock`: an OS file lock (flock) per stack; a second run waits, saying so, then refuses.
- `read_limited`: bounded reads of regular files only (no /dev/zero, no FIFO that hangs).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import re
import secrets
import shutil
import stat
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Optional, Union

MARKER = ".mindiectl-output"
"""File this tool writes into every output folder it creates; only such folders are replaced."""

SECRET_DIR_MODE = 0o700
SECRET_FILE_MODE = 0o600
LOCK_TIMEOUT_ENV = "MINDIE_LOCK_TIMEOUT"
DEFAULT_LOCK_TIMEOUT = 300.0


class UnsafePathError(Exception):
    """A path the tool refuses to write, replace or read; the message says why and what to do."""


# --------------------------------------------------------------------------- folders and files


def make_private_dirs(path: Path, mode: int = SECRET_DIR_MODE) -> Path:
    """mkdir -p where every folder this call creates gets `mode` whatever the umask."""
    missing = []
    current = path
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=mode)
        except FileExistsError:
            continue  # a concurrent run made it
        os.chmod(folder, mode)
    if path.is_symlink() or not path.is_dir():
        raise UnsafePathError(f"{path}: not a folder")
    return path


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(
    path: Union[str, Path], data: Union[str, bytes], mode: Optional[int] = None, default_mode: int = 0o644
) -> None:
    """Replace `path` with `data` atomically (see the module doc).

    `mode`: the new file's mode (e.g. 0600 for keys), applied whatever the umask; None keeps
    the existing file's mode, or `default_mode` for a new file.
    """
    path = Path(path)
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    folder = target.parent
    try:
        current = os.stat(target)
    except FileNotFoundError:
        current = None
    if current is not None and not stat.S_ISREG(current.st_mode):
        raise UnsafePathError(f"{path}: not a regular file; refusing to replace it")
    final_mode = (
        mode if mode is not None else (stat.S_IMODE(current.st_mode) if current is not None else default_mode)
    )
    payload = data.encode() if isinstance(data, str) else data
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    for attempt in range(8):  # a name taken (or planted as a symlink): never followed, try another
        tmp = folder / f".{target.name}.{secrets.token_hex(8)}.tmp"
        try:
            fd = os.open(tmp, flags, 0o600)
            break
        except FileExistsError:
            if attempt == 7:
                raise
    try:
        try:
            os.fchmod(fd, final_mode)
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(folder)
    _clean_stale_temps(folder, target.name)


STALE_TEMP_SECONDS = 600


def _clean_stale_temps(folder: Path, name: str) -> None:
    """Temp files of this target (`.<name>.<16 hex>.tmp`) a killed writer left, older than 10 min
    (a live writer finishes in far less); nothing else is touched."""
    pattern = re.compile(rf"\.{re.escape(name)}\.[0-9a-f]{{16}}\.tmp")
    for candidate in folder.glob(f".{name}.*.tmp"):
        try:
            info = candidate.lstat()
        except OSError:
            continue
        if (
            pattern.fullmatch(candidate.name)
            and stat.S_ISREG(info.st_mode)
            and time.time() - info.st_mtime > STALE_TEMP_SECONDS
        ):
            with contextlib.suppress(OSError):
                candidate.unlink()


def read_limited(path: Path, limit: int, what: str = "file") -> bytes:
    """The bytes of a regular file of at most `limit` bytes; UnsafePathError otherwise.

    Opened non-blocking and checked with fstat before reading: a FIFO never hangs the
    command, /dev/zero or a huge file is refused without reading it all."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as err:
        raise UnsafePathError(f"{path}: cannot read ({err.strerror})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafePathError(f"{path}: not a regular file (the {what} must be one)")
        if info.st_size > limit:
            raise UnsafePathError(
                f"{path}: {info.st_size} bytes, larger than the {limit}-byte limit of a {what}"
            )
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            total += len(chunk)
            if total > limit:
                raise UnsafePathError(f"{path}: larger than the {limit}-byte limit of a {what}")
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as err:
        raise UnsafePathError(f"{path}: cannot read ({err.strerror})") from None
    finally:
        os.close(fd)


def read_stream_limited(stream, limit: int, what: str) -> bytes:
    """At most `limit` bytes of a binary stream (standard input); UnsafePathError beyond."""
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise UnsafePathError(f"{what}: larger than the {limit}-byte limit")
    return data


# --------------------------------------------------------------------------- output folders


def _is_within(inner: Path, outer: Path) -> bool:
    return inner == outer or outer in inner.parents


def check_out_dir(out: Path, protected: Iterable[Path]) -> None:
    """Refuse an output folder whose replacement could delete something the tool did not make."""
    if out.is_symlink():
        raise UnsafePathError(f"--out {out}: is a symbolic link; give a real folder")
    if out.exists() and not out.is_dir():
        raise UnsafePathError(f"--out {out}: exists and is not a folder; refusing to replace it")
    resolved = out.resolve()
    for guarded in protected:
        guarded = guarded.resolve()
        if _is_within(guarded, resolved):
            raise UnsafePathError(
                f"--out {out}: is {guarded} or a folder above it (the project, a stack file's folder "
                "or the state folder); give a dedicated folder such as build/<stack>"
            )
        if _is_within(resolved, guarded) and guarded.name in (".mindie", "state", ".git"):
            raise UnsafePathError(f"--out {out}: is inside {guarded}; give a dedicated folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file() and not _earlier_output(out):
        raise UnsafePathError(
            f"--out {out}: holds files this tool did not write (no {MARKER} marker); "
            "give an empty or new folder"
        )


EARLIER_OUTPUT = {
    "manifests",
    "resources.json",
    "outputs.json",
    "graph.mmd",
    "graph.dot",
    "tls",
    "policy.json",
}
"""What an output folder of a version before the marker held: such a folder (nothing else in it,
resources.json present) is still recognised as this tool's."""


def _earlier_output(out: Path) -> bool:
    names = {p.name for p in out.iterdir()}
    return "resources.json" in names and names <= EARLIER_OUTPUT


def _marker_text() -> str:
    return f"written by mindiectl (pid {os.getpid()}); this folder may be replaced by the next run\n"


def new_staging_dir(out: Path) -> Path:
    """A fresh private folder beside `out`, marked as this tool's (stale ones are removed first)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_staging(out)
    staging = out.parent / f".{out.name}-{secrets.token_hex(6)}"
    staging.mkdir(mode=SECRET_DIR_MODE)
    os.chmod(staging, SECRET_DIR_MODE)
    (staging / MARKER).write_text(_marker_text())
    return staging


def _pid_of(marker: Path) -> Optional[int]:
    try:
        text = marker.read_text()[:200]
    except OSError:
        return None
    if not text.startswith("written by mindiectl (pid "):
        return None
    digits = text[len("written by mindiectl (pid ") :].split(")", 1)[0]
    return int(digits) if digits.isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_staging(out: Path) -> list[Path]:
    """Remove `.<out>-*` folders beside `out` that this tool made (marker) in a run that died."""
    return clean_stale(out.parent, f".{out.name}-*")


def marked_dir(parent: Path, prefix: str) -> Path:
    """A fresh private folder `<parent>/<prefix><random>` carrying this tool's marker (with its pid)."""
    clean_stale(parent, f"{prefix}*")
    folder = parent / f"{prefix}{secrets.token_hex(6)}"
    folder.mkdir(mode=SECRET_DIR_MODE)
    os.chmod(folder, SECRET_DIR_MODE)
    (folder / MARKER).write_text(_marker_text())
    return folder


def clean_stale(parent: Path, pattern: str) -> list[Path]:
    """Remove folders matching `pattern` in `parent` that carry this tool's marker and whose
    process is gone (a run killed before it could clean up); anything else is left alone."""
    removed = []
    if not parent.is_dir():
        return removed
    for candidate in parent.glob(pattern):
        if candidate.is_symlink() or not candidate.is_dir():
            continue
        pid = _pid_of(candidate / MARKER)
        if pid is None or (pid != os.getpid() and _alive(pid)):
            continue
        shutil.rmtree(candidate, ignore_errors=True)
        removed.append(candidate)
    return removed


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE); False when unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def replace_dir(staging: Path, out: Path) -> None:
    """Put the finished `staging` folder at `out`: `out` is at every instant the old or the new."""
    if not out.exists():
        os.rename(staging, out)
    elif _exchange(staging, out):
        shutil.rmtree(staging)  # now the old output (checked by check_out_dir before the run)
    else:  # no atomic exchange: the old folder is kept aside (marked) until the new one is in place
        aside = out.parent / f".{out.name}-{secrets.token_hex(6)}"
        os.rename(out, aside)
        os.rename(staging, out)
        shutil.rmtree(aside, ignore_errors=True)
    _fsync_dir(out.parent)


# --------------------------------------------------------------------------- per-stack lock

_held: dict[str, list[int]] = {}
"""lock file -> [fd, depth]: the lock is re-entrant within this process (a gate run inside
a promotion takes the stack's lock again); flock would otherwise block on itself."""


def lock_timeout() -> float:
    try:
        return float(os.environ.get(LOCK_TIMEOUT_ENV, DEFAULT_LOCK_TIMEOUT))
    except ValueError:
        return DEFAULT_LOCK_TIMEOUT


@contextlib.contextmanager
def stack_lock(stack: str, lock_dir: Path, timeout: Optional[float] = None) -> Iterator[None]:
    """Hold the OS lock of `stack` (lock_dir/<stack>.lock); another run waits, then refuses."""
    make_private_dirs(lock_dir)
    lock_file = lock_dir / f"{stack}.lock"
    key = str(lock_file.resolve())
    if key in _held:
        _held[key][1] += 1
        try:
            yield
        finally:
            _held[key][1] -= 1
        return
    fd = os.open(
        lock_file, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), SECRET_FILE_MODE
    )
    try:
        _acquire(fd, stack, lock_file, lock_timeout() if timeout is None else timeout)
        _held[key] = [fd, 1]
        try:
            yield
        finally:
            del _held[key]
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _acquire(fd: int, stack: str, lock_file: Path, timeout: float) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return
    except BlockingIOError:
        pass
    print(
        f"mindiectl: another run holds stack {stack} ({lock_file}); waiting up to {timeout:g} s",
        file=sys.stderr,
    )
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise UnsafePathError(
                    f"stack {stack}: still locked by another mindiectl run after {timeout:g} s "
                    f"({lock_file}); try again when it has finished"
                ) from None
            time.sleep(0.1)
