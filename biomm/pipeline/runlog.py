"""The run's log file and the pseudonymisation of ids in what the runner writes.

``logs/pipeline.log`` receives the runner's lines and every ``biomm.*`` logger (and Python
warnings) while the pipeline runs. With a salt, patient/sample ids and the names of the files
they reference are replaced by ``id-<keyed hash>`` in the log, the summary and the run's
``failures.csv``: :class:`~biomm.privacy.Pseudonymiser` (HMAC-SHA256 keyed by the salt; see
:mod:`biomm.privacy`). Report text is never logged by the runner.

Examples:
    >>> p = Pseudonymiser("a-long-secret", ["P0001", "P0002"])
    >>> p.text("slides/P0001.svs: cannot open; P00010 unaffected")
    'slides/id-....svs: cannot open; P00010 unaffected'
    >>> Pseudonymiser(None, ["P0001"]).text("P0001")
    'P0001'
"""

from __future__ import annotations

import logging
from os import PathLike
from pathlib import Path
from typing import Any

from biomm.privacy import Pseudonymiser

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def cohort_ids(cohort: Any) -> list[str]:
    """Patient and sample ids of a cohort and the stems of the files it references.

    Examples:
        >>> import pandas as pd
        >>> from biomm.cohort import Cohort
        >>> c = Cohort(pd.DataFrame({"patient_id": ["a"], "wsi": ["slides/s-a.svs"]}))
        >>> cohort_ids(c)
        ['a', 's-a']
    """
    if cohort is None:
        return []
    ids: list[str] = list(cohort.patient_ids)
    schema = cohort.schema
    if schema.sample_id and schema.sample_id in cohort.table:
        ids += [str(v) for v in cohort.table[schema.sample_id].dropna()]
    for modality in schema.modalities:
        for row in range(len(cohort)):
            for ref in cohort.references(modality, row):
                if modality == "report" and not cohort.is_report_file(ref):
                    continue
                name = Path(ref).name
                ids.append(name.split(".")[0] if "." in name else name)
    return list(dict.fromkeys(i for i in ids if i))


class _Scrub(logging.Filter):
    def __init__(self, pseudonymiser: Pseudonymiser) -> None:
        super().__init__()
        self.pseudonymiser = pseudonymiser

    def filter(self, record: logging.LogRecord) -> bool:
        if self.pseudonymiser.active:
            record.msg = self.pseudonymiser.text(record.getMessage())
            record.args = None
        return True


class RunLog:
    """Context manager: ``biomm.*`` loggers and warnings go to ``path`` during a run.

    Examples:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "logs" / "run.log"
        >>> with RunLog(path, Pseudonymiser("a-long-secret", ["P7"])):
        ...     logging.getLogger("biomm.pipeline").info("P7 done")
        >>> "P7" in path.read_text(), "id-" in path.read_text()
        (False, True)
    """

    def __init__(self, path: str | PathLike[str], pseudonymiser: Pseudonymiser) -> None:
        self.path = Path(path)
        self.pseudonymiser = pseudonymiser
        self._handler: logging.Handler | None = None
        self._saved: list[tuple[logging.Logger, int]] = []

    def __enter__(self) -> RunLog:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(self.path, encoding="utf-8")
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        handler.addFilter(_Scrub(self.pseudonymiser))
        handler.setLevel(logging.INFO)
        self._handler = handler
        for name in ("biomm", "py.warnings"):
            logger = logging.getLogger(name)
            self._saved.append((logger, logger.level))
            if logger.getEffectiveLevel() > logging.INFO:
                logger.setLevel(logging.INFO)
            logger.addHandler(handler)
        logging.captureWarnings(True)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.captureWarnings(False)
        for logger, level in self._saved:
            logger.setLevel(level)
            if self._handler is not None:
                logger.removeHandler(self._handler)
        if self._handler is not None:
            self._handler.close()


__all__ = ["LOG_FORMAT", "Pseudonymiser", "RunLog", "cohort_ids"]
