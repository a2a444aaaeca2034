from __future__ import annotations

import pytest

from biomm import errors
from biomm.utils.optional import optional_import


def test_every_error_names_file_and_row():
    err = errors.ManifestError("bad value", path="cohort.csv", row=3)
    assert str(err) == "cohort.csv, row 3: bad value"
    assert isinstance(err, errors.InputError) and isinstance(err, ValueError)
    assert issubclass(errors.SlideReadError, errors.FileFormatError)
    assert issubclass(errors.ECGReadError, errors.BiommError)


def test_optional_import_raises_only_when_used():
    module, ok = optional_import("biomm_missing_module", extra="distributed")
    assert not ok and not module
    with pytest.raises(errors.MissingDependencyError, match=r"pip install 'biomm\[distributed\]'"):
        module.Client  # noqa: B018
