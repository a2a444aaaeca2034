"""Write the bad-input corpus (seeded) and its manifest; optionally the docs table.

Usage (from the repository root)::

    python tests/data/bad/make_corpus.py                 # rewrite tests/data/bad/<reader>/...
    python tests/data/bad/make_corpus.py --docs docs/bad-inputs.md
    python tests/data/bad/make_corpus.py --reader ecg    # only that reader's cases

Bytes are reproducible with the same library versions; a different Pillow/tifffile/pydicom may
write a few files differently (the cases stay the same), which is why the tests check the
committed files against ``MANIFEST.json`` and the generator against itself, not the two
against each other.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.data.bad.corpus import (  # noqa: E402
    HERE,
    MANIFEST,
    build_corpus,
    case_modules,
    docs_table,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="corpus folder (default: here)")
    parser.add_argument("--docs", type=Path, help="also write the docs table to this file")
    parser.add_argument(
        "--reader", action="append", help="rebuild only this reader's cases (repeatable)"
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / ".make_corpus.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two concurrent rebuilds never interleave
        manifest = rebuild(args.out, args.reader)
        (args.out / MANIFEST.name).write_text(json.dumps(manifest, indent=1) + "\n", "utf-8")
    if args.docs:
        args.docs.write_text(docs_table(manifest), encoding="utf-8")
    print(f"{len(manifest['cases'])} cases in {args.out / MANIFEST.name}")
    return 0


def rebuild(out: Path, readers: list[str] | None) -> dict:
    """Rebuild the case folders of ``readers`` (all when None) and return the full manifest."""
    known = set(case_modules())
    chosen = known if not readers else set(readers)
    if chosen - known:
        raise SystemExit(f"unknown reader(s) {sorted(chosen - known)}; known: {sorted(known)}")
    for child in out.iterdir():
        stale = child.name not in known and not readers
        if (
            child.is_dir()
            and not child.name.startswith(("_", "."))
            and (child.name in chosen or stale)
        ):
            shutil.rmtree(child)
    fresh = build_corpus(out, readers=chosen)
    old = {"cases": []}
    if readers and (out / MANIFEST.name).is_file():
        old = json.loads((out / MANIFEST.name).read_text(encoding="utf-8"))
    kept = [e for e in old["cases"] if e["reader"] in known and e["reader"] not in chosen]
    cases = kept + fresh["cases"]
    order = {name: i for i, name in enumerate(sorted(known))}
    cases.sort(key=lambda e: order[e["reader"]])  # stable: case order within a reader kept
    readers_entry = {
        r: fresh["readers"].get(r) or old["readers"][r]
        for r in sorted(known)
        if r in fresh["readers"] or r in old.get("readers", {})
    }
    return {"seed": fresh["seed"], "readers": readers_entry, "cases": cases}


if __name__ == "__main__":
    raise SystemExit(main())
