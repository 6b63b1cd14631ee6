"""Writing files so that an interruption or an error never leaves half a file behind."""

from __future__ import annotations

import errno
import os
import re
import tempfile
from pathlib import Path

from nc_core.errors import UserError

#: whether this process writes (False in a distributed run's processes other than rank 0, set by
#: :func:`nc_core.distributed.init_from_env`: every rank runs the same code, rank 0 keeps the record)
_writes = True


def drop_writes(drop: bool = True) -> None:
    """Make :func:`atomic_write` a no-op in this process (``drop=False``: writes again)."""
    global _writes
    _writes = not drop


def current_umask() -> int:
    """The process umask (read by setting it, then restoring it at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def check_writable(path: str | os.PathLike) -> Path:
    """``path`` as a :class:`Path`, after checking that a file can be created there: its
    directory exists and is a directory, and ``path`` is not a directory itself. Nothing is
    created: a missing directory is the user's to make. Raises :class:`UserError` naming
    ``path``."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path}: is a directory (give a file name)")
    parent = path.parent
    if not parent.exists():
        # a path through a file ("file.png/out.nc") is not a missing directory
        for above in parent.parents:
            if above.exists():
                if not above.is_dir():
                    raise UserError(f"{path}: {above} is not a directory")
                break
        raise UserError(f"{path}: no such directory ({parent})")
    if not parent.is_dir():
        raise UserError(f"{path}: {parent} is not a directory")
    return path


def atomic_write(path: str | os.PathLike, data: bytes | str) -> None:
    """Write ``data`` to ``path`` through a temporary sibling and ``os.replace``.

    The directory must exist (nothing is created), the file gets the permissions an ordinary
    ``open(path, "w")`` would (``0o666`` less the umask), and every failure is a
    :class:`UserError` that names ``path``, never the temporary file. In a process that drops
    writes (:func:`drop_writes`) it does nothing."""
    if not _writes:
        return
    path = check_writable(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise _user_error(path, exc) from None
    try:
        os.fchmod(fd, 0o666 & ~current_umask())  # mkstemp creates 0600 whatever the umask
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise _user_error(path, exc) from None
        raise


def _user_error(path: Path, exc: OSError) -> UserError:
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return UserError(f"{path}: permission denied (cannot write in {path.parent})")
    if exc.errno == errno.EISDIR:
        return UserError(f"{path}: is a directory (give a file name)")
    if exc.errno == errno.ENOSPC:
        return UserError(f"{path}: no space left on the device")
    return UserError(f"{path}: cannot write ({exc.strerror or type(exc).__name__})")


_VAR = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")


def expand_path(path: str) -> Path:
    """Expand ``${VAR}`` and ``${VAR:-default}``; an unset variable without default is an error."""

    def sub(match: re.Match) -> str:
        name, default = match.group(1), match.group(2)
        value = os.environ.get(name) or default
        if value is None:
            raise ValueError(f"environment variable {name} is not set (in path {path!r})")
        return value

    return Path(_VAR.sub(sub, path)).expanduser()
