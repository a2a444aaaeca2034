"""The biomm error hierarchy.

Every error raised on bad input names the file (or manifest row) and the reason, so that a
cohort run can log it, skip the offending item and carry on.

Examples:
    >>> from biomm.errors import ManifestError
    >>> err = ManifestError("column 'patient_id' is missing", path="cohort.csv")
    >>> str(err)
    "cohort.csv: column 'patient_id' is missing"
"""

from __future__ import annotations

from os import PathLike


class BiommError(Exception):
    """Base class of every error biomm raises on purpose.

    Args:
        reason: What went wrong, in words a user can act on.
        path: The file the error is about, if any.
        row: The 0-based manifest row the error is about, if any.

    Examples:
        >>> raise BiommError("something broke", path="a.svs")
        Traceback (most recent call last):
        ...
        biomm.errors.BiommError: a.svs: something broke
    """

    def __init__(
        self, reason: str, *, path: str | PathLike[str] | None = None, row: int | None = None
    ) -> None:
        self.reason = reason
        self.path = None if path is None else str(path)
        self.row = row
        super().__init__(self._format())

    def _format(self) -> str:
        where = []
        if self.path is not None:
            where.append(self.path)
        if self.row is not None:
            where.append(f"row {self.row}")
        prefix = ", ".join(where)
        return f"{prefix}: {self.reason}" if prefix else self.reason


class InputError(BiommError, ValueError):
    """A user-supplied file, table or value is malformed or unusable."""


class ManifestError(InputError):
    """A cohort manifest cannot be read or is structurally unusable."""


class SchemaError(InputError):
    """A cohort schema (YAML or Python) is invalid or does not match the manifest."""


class ConfigError(InputError):
    """A configuration (pipeline YAML, ``--set`` override, parameter) is invalid."""


class FileFormatError(InputError):
    """A file does not have the format its extension or declared modality implies."""


class SlideReadError(FileFormatError):
    """A whole-slide image cannot be opened or read."""


class ECGReadError(FileFormatError):
    """An ECG record cannot be opened or read."""


class ImageReadError(FileFormatError):
    """A retinal image (fundus photo, OCT volume) cannot be opened or read."""


class TableError(InputError):
    """A tabular EHR table is unusable: unknown or missing columns, wrong types, no usable rows."""


class ReportReadError(FileFormatError):
    """A free-text report cannot be read: empty, binary, or not decodable as text."""


class CheckpointError(FileFormatError):
    """A model checkpoint or weights file is missing, malformed, tampered with or untrusted."""


class UntrustedFileError(CheckpointError):
    """A pickle-based file (``.pt``/``.pth``/``.bin``/``.ckpt``) was refused.

    Unpickling can run code chosen by whoever wrote the file; biomm loads such files only when
    the caller passes an explicit trust flag.
    """


class OutputLockedError(BiommError, RuntimeError):
    """Another run holds the lock of this output folder; concurrent runs are never interleaved."""


class SplitError(InputError):
    """A requested patient-level split cannot be made from this cohort."""


class RegistryError(BiommError, KeyError):
    """A name is not registered, or is registered twice."""

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return self._format()


class MissingDependencyError(BiommError, ImportError):
    """An optional dependency is needed for this feature but is not installed."""
