"""Files that appear whole or not at all: atomic writes with the permissions any other new file would get."""

from __future__ import annotations

import io
import os
import tempfile
import typing as tp
from pathlib import Path

import torch


def _umask() -> int:
    mask = os.umask(0)  # the only portable way to read the umask is to set it
    os.umask(mask)
    return mask


def default_mode(directory: bool = False) -> int:
    """The mode `open()` / `mkdir()` would give a new file or directory under the current umask."""
    return (0o777 if directory else 0o666) & ~_umask()


def atomic_write(path: str | os.PathLike, data: bytes | str) -> Path:
    """Write `data` to a temporary file beside `path`, then rename it onto `path`.

    Readers see the old file or the new one, never half of one. A failed write (a full disk, a read-only
    mount) leaves `path` untouched and no temporary file behind, and raises an OSError whose filename is `path`.
    The file gets the usual permissions (a bare temporary file would be 0600).
    """
    path = Path(path)
    data = data.encode() if isinstance(data, str) else data
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.chmod(tmp, default_mode())
        os.replace(tmp, path)
    except OSError as error:
        raise OSError(error.errno, error.strerror, str(path)) from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
    return path


def to_bytes(write: tp.Callable[[io.BytesIO], None]) -> bytes:
    """What `write(buffer)` writes, e.g. `to_bytes(lambda b: torch.save(obj, b))`: serialise in memory, so that
    only `atomic_write` touches the disk and every disk error is a plain OSError naming the file."""
    buffer = io.BytesIO()
    write(buffer)
    return buffer.getvalue()


def save_torch(path: str | os.PathLike, obj: tp.Any) -> Path:
    """`torch.save(obj, path)`, atomically."""
    return atomic_write(path, to_bytes(lambda buffer: torch.save(obj, buffer)))


__all__ = ["atomic_write", "default_mode", "save_torch", "to_bytes"]
