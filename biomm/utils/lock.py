"""Output-folder locks: one run writes into a folder at a time, and a killed run never blocks.

Every long biomm job (``biomm wsi tile``/``embed``, ``biomm ecg convert``/``pretrain``/
``embed``/``zeroshot``, ``biomm embed``, ``biomm train``, ``biomm lego merge``, ``biomm run``)
holds :func:`output_lock` on its output folder while it writes. A second run on the same folder
is refused with :class:`~biomm.errors.OutputLockedError`, naming the folder and the holder (pid,
host, command, start time); runs are never interleaved.

How it works:

* The lock is ``fcntl.flock`` on ``FOLDER/.biomm.lock``. The kernel drops it when the holder
  exits, however it exits — SIGKILL, out of memory, power loss of a client — so a killed run
  leaves no stale lock: the next run takes it at once. The holder's pid, host, command and
  start time are written into the file, and the file is removed on a clean release.
* Where ``flock`` does not work (some network or FUSE filesystems answer ``ENOLCK`` or
  ``EOPNOTSUPP``; Windows has no ``fcntl``), the lock falls back to creating
  ``FOLDER/.biomm.lock.excl`` exclusively (``O_CREAT | O_EXCL``). Such a lock file left by a
  killed run is stale, and removed, when its holder ran on this host and its pid is gone; a
  lock file from another host is never broken automatically: the error says which file to
  delete once you are sure that run is over.
* Within one process the lock is re-entrant: a pipeline holds its run folder while its steps
  take the locks of their sub-folders (and nested calls on the same folder do not deadlock).
  Other processes — including those a job forks — are refused.

Examples:
    >>> import tempfile
    >>> from pathlib import Path
    >>> folder = Path(tempfile.mkdtemp())
    >>> with output_lock(folder, command="demo") as lock:
    ...     (folder / LOCK_NAME).exists(), lock.holder["command"]
    (True, 'demo')
    >>> (folder / LOCK_NAME).exists()  # removed on release
    False
"""

from __future__ import annotations

import contextlib
import errno
import functools
import inspect
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from os import PathLike
from pathlib import Path
from typing import Any, TypeVar

from biomm.errors import OutputLockedError

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = ".biomm.lock"
"""Name of the lock file inside a locked folder."""

EXCL_SUFFIX = ".excl"
"""Suffix of the fallback lock file (``O_EXCL``) used where ``flock`` does not work."""

F = TypeVar("F", bound=Callable[..., Any])
_NO_FLOCK = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}
_held: dict[Path, OutputLock] = {}
_held_guard = threading.RLock()


@dataclass
class OutputLock:
    """A held output-folder lock (returned by :func:`output_lock`).

    Attributes:
        path: The lock file.
        holder: What was written into it: ``pid``, ``host``, ``command``, ``started``.
        method: ``flock`` or ``exclusive-file`` (the fallback).
        depth: How many nested :func:`output_lock` calls of this process hold it.

    Examples:
        >>> OutputLock(Path("x/.biomm.lock"), {"pid": 1}, "flock").depth
        1
    """

    path: Path
    holder: dict[str, Any]
    method: str
    depth: int = 1
    _fd: int | None = field(default=None, repr=False)


def current_command() -> str:
    """The command line of this process, shortened (recorded as the lock's holder).

    Examples:
        >>> isinstance(current_command(), str)
        True
    """
    argv = [Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python", *sys.argv[1:]]
    text = " ".join(argv)
    return text if len(text) <= 300 else text[:297] + "..."


def read_holder(lock_file: str | PathLike[str]) -> dict[str, Any]:
    """The holder recorded in a lock file (empty when unreadable or not written yet).

    Examples:
        >>> import tempfile
        >>> p = Path(tempfile.mkdtemp()) / LOCK_NAME
        >>> _ = p.write_text('{"pid": 7, "host": "h"}')
        >>> read_holder(p)["pid"], read_holder(p.parent / "missing")
        (7, {})
    """
    try:
        data = json.loads(Path(lock_file).read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def describe_holder(holder: dict[str, Any]) -> str:
    """A holder in words, for error messages.

    Examples:
        >>> describe_holder({"pid": 12, "host": "node1", "command": "biomm wsi tile",
        ...                  "started": "2025-01-01T00:00:00+00:00"})
        "pid 12 on node1, started 2025-01-01T00:00:00+00:00: 'biomm wsi tile'"
        >>> describe_holder({})
        'a run that has not recorded itself yet'
    """
    if not holder.get("pid"):
        return "a run that has not recorded itself yet"
    text = f"pid {holder['pid']} on {holder.get('host', '?')}"
    if holder.get("started"):
        text += f", started {holder['started']}"
    if holder.get("command"):
        text += f": {holder['command']!r}"
    return text


def _holder(command: str | None) -> dict[str, Any]:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "command": command or current_command(),
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _refuse(folder: Path, lock_file: Path, holder: dict[str, Any], extra: str = "") -> None:
    raise OutputLockedError(
        f"another run is writing into this folder ({describe_holder(holder)}); wait for it to "
        f"finish or choose another output folder{extra}",
        path=folder,
    )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def _write_holder(fd: int, holder: dict[str, Any]) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(holder).encode(), 0)


def _try_flock(folder: Path, lock_file: Path, holder: dict[str, Any]) -> OutputLock | None:
    """Take the ``flock``; None when the filesystem does not support it."""
    assert fcntl is not None
    while True:
        fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            _refuse(folder, lock_file, read_holder(lock_file))
        except OSError as exc:
            os.close(fd)
            if exc.errno in _NO_FLOCK:
                return None
            raise
        # The previous holder may have removed the file between our open and flock: then we
        # locked an orphaned inode and must start over on the new file.
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(lock_file))
        except FileNotFoundError:
            same = False
        if same:
            _write_holder(fd, holder)
            return OutputLock(lock_file, holder, "flock", _fd=fd)
        os.close(fd)


def _take_exclusive(folder: Path, lock_file: Path, holder: dict[str, Any]) -> OutputLock:
    """The fallback: create ``lock_file`` exclusively, breaking it only when provably stale."""
    for _ in range(3):
        try:
            fd = os.open(lock_file, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            old = read_holder(lock_file)
            if not old.get("pid"):
                # being written right now, or left empty by a crash: give a writer a moment
                time.sleep(0.2)
                old = read_holder(lock_file)
            local = old.get("host") == socket.gethostname()
            if old.get("pid") and local and not _pid_alive(int(old["pid"])):
                lock_file.unlink(missing_ok=True)  # stale: its holder is gone
                continue
            _refuse(
                folder,
                lock_file,
                old,
                f" (this filesystem has no working locks; if that run is over, delete {lock_file})",
            )
        _write_holder(fd, holder)
        os.close(fd)
        return OutputLock(lock_file, holder, "exclusive-file")
    _refuse(folder, lock_file, read_holder(lock_file))
    raise AssertionError("unreachable")  # pragma: no cover


@contextlib.contextmanager
def output_lock(
    folder: str | PathLike[str], *, command: str | None = None, name: str = LOCK_NAME
) -> Iterator[OutputLock]:
    """Hold the lock of ``folder`` (created) while the block runs.

    Args:
        folder: The output folder.
        command: What to record as the holder (default: this process's command line).
        name: The lock file's name; a job whose output is a single file locks its parent
            folder under a name of its own (``.ecg.h5.lock``), so sibling outputs stay free.

    Raises:
        OutputLockedError: When another process holds the lock (the message names the folder
            and the holder).

    Examples:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> with output_lock(folder) as outer, output_lock(folder) as inner:
        ...     inner is outer, inner.depth
        (True, 2)
    """
    folder = Path(folder).absolute()
    folder.mkdir(parents=True, exist_ok=True)
    lock_file = folder / name
    with _held_guard:
        held = _held.get(lock_file)
        if held is not None and held.holder["pid"] != os.getpid():
            del _held[lock_file]  # inherited through fork: the parent's lock, not ours
            held = None
        if held is not None:
            held.depth += 1
        else:
            holder = _holder(command)
            taken = _try_flock(folder, lock_file, holder) if fcntl is not None else None
            if taken is None:
                taken = _take_exclusive(folder, lock_file.with_name(name + EXCL_SUFFIX), holder)
            held = _held[lock_file] = taken
    try:
        yield held
    finally:
        with _held_guard:
            held.depth -= 1
            if held.depth == 0:
                del _held[lock_file]
                _release(held)


def locks_output(
    argument: str, folder: Callable[[Any], str | PathLike[str]] | None = None
) -> Callable[[F], F]:
    """Decorate a job function so that it holds :func:`output_lock` on its output folder.

    Args:
        argument: The parameter that names the output (e.g. ``"out"``, ``"cfg"``).
        folder: Turns that argument into the folder (default: the argument itself), e.g.
            ``lambda cfg: cfg.out``.

    Examples:
        >>> import tempfile
        >>> @locks_output("out")
        ... def job(out):
        ...     return (Path(out) / LOCK_NAME).exists()
        >>> job(tempfile.mkdtemp())
        True
    """

    def decorate(fn: F) -> F:
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            value = signature.bind(*args, **kwargs).arguments[argument]
            with output_lock(folder(value) if folder is not None else value):
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def _release(lock: OutputLock) -> None:
    # Remove the file while still holding the lock: a waiting run that opened the old file
    # notices (inode check) and retries on a fresh one.
    lock.path.unlink(missing_ok=True)
    if lock._fd is not None:
        os.close(lock._fd)  # closing the last descriptor releases the flock
        lock._fd = None


def is_lock_file(path: str | PathLike[str]) -> bool:
    """Whether ``path`` is a lock file of this module (never an output).

    Examples:
        >>> is_lock_file("out/.biomm.lock"), is_lock_file("out/.e.h5.lock.excl")
        (True, True)
        >>> is_lock_file("out/a.h5")
        False
    """
    name = Path(path).name
    return name.startswith(".") and (name.endswith(".lock") or name.endswith(".lock" + EXCL_SUFFIX))


__all__ = [
    "LOCK_NAME",
    "OutputLock",
    "current_command",
    "describe_holder",
    "is_lock_file",
    "locks_output",
    "output_lock",
    "read_holder",
]
