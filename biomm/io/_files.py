"""Checks shared by the readers: why a path cannot be opened, and ``.npy`` headers.

Each reader wraps these in its own error class (``SlideReadError``, ``ImageReadError``,
``ECGReadError``…), so that messages say the same thing the same way.

Examples:
    >>> missing_reason(Path("/no/such/file.svs"))
    'file not found'
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import numpy as np


def missing_reason(path: Path) -> str | None:
    """Why ``path`` cannot be opened (not found, a link loop, a broken link); None if it exists.

    Examples:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> (folder / "loop").symlink_to(folder / "loop")
        >>> (folder / "dangling").symlink_to(folder / "gone")
        >>> missing_reason(folder / "loop"), missing_reason(folder)
        ('symbolic link loop', None)
        >>> missing_reason(folder / "dangling").startswith("broken symbolic link")
        True
    """
    if path.exists():
        return None
    if path.is_symlink():
        try:
            path.stat()
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return "symbolic link loop"
        return f"broken symbolic link (to {os.readlink(path)}, which does not exist)"
    return "file not found"


def read_npy_header(handle: Any) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype from a ``.npy`` header, leaving ``handle`` at the start of the data.

    Nothing is allocated: a caller compares the declared size with the file size before
    loading (NumPy would allocate whatever a corrupt header claims).

    Raises:
        ValueError, OSError, EOFError: When the header is corrupt (the caller names the file).

    Examples:
        >>> import io
        >>> buffer = io.BytesIO()
        >>> np.save(buffer, np.zeros((2, 3), np.float32))
        >>> _ = buffer.seek(0)
        >>> read_npy_header(buffer)
        ((2, 3), dtype('float32'))
    """
    version = np.lib.format.read_magic(handle)
    read_header = (
        np.lib.format.read_array_header_1_0
        if version == (1, 0)
        else np.lib.format.read_array_header_2_0
    )
    shape, _, dtype = read_header(handle)
    return shape, dtype
