"""Child process of the bad-input test: run one reader over a list of cases, one JSON line each.

Usage: ``python -m tests.data.bad.worker READER CORPUS_DIR CASE [CASE ...]``. Each finished
case prints ``{"case", "outcome", "classes", "message", "seconds"}`` where ``outcome`` is
``raised`` or ``returned``, ``classes`` is the exception's class names along its MRO and
``reason`` a biomm error's message without the file name. The
parent notices a crash (the process dies mid-case) or a hang (no line within its time limit).
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def main(argv: list[str]) -> int:
    from tests import network_guard

    network_guard.install()
    import torch

    torch.set_num_threads(1)
    from tests.data.bad.corpus import case_modules, load_manifest

    reader_name, corpus, *names = argv
    reader = case_modules()[reader_name].READER
    paths = {
        e["case"]: Path(corpus) / e["path"]
        for e in load_manifest()["cases"]
        if e["reader"] == reader_name
    }
    for name in names:
        print(json.dumps({"case": name, "outcome": "started"}), flush=True)
        start = time.perf_counter()
        result: dict = {"case": name}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                reader.read(paths[name])
            except BaseException as exc:  # the test judges what was raised
                result.update(
                    outcome="raised",
                    classes=[c.__name__ for c in type(exc).__mro__],
                    module=type(exc).__module__,
                    message=str(exc),
                    reason=getattr(exc, "reason", None),
                )
            else:
                result.update(outcome="returned", classes=[], message="")
        result["seconds"] = round(time.perf_counter() - start, 3)
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
