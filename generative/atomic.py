"""Files written whole or not at all (standard library only, for the training modules too)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path

__all__ = ["write_atomic"]


def write_atomic(path: str | os.PathLike[str], write: Callable[[str], None]) -> Path:
    """Create or replace ``path`` by calling ``write(staging_path)`` and renaming the staging
    file into place: a reader, or a process killed while writing, sees the previous file or the
    new one, never half of one. The staging file sits next to ``path`` (same file system) and is
    removed if ``write`` fails."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # not mkstemp: its file is private (0600) and would stay so once renamed; a file created
    # with 0666 takes the umask, as any other output the user writes
    staging = str(path.parent / f".{path.name}.{uuid.uuid4().hex}.partial")
    os.close(os.open(staging, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    try:
        write(staging)
        os.replace(staging, path)
    finally:
        if os.path.exists(staging):
            os.unlink(staging)
    return path
