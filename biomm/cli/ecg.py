"""``biomm ecg``: read, convert, pretrain (MERL), embed, zero-shot classify and probe ECGs.

Examples:
    >>> from typer.testing import CliRunner
    >>> CliRunner().invoke(ecg_app, ["--help"]).exit_code
    0
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from biomm.cli.output import fail_usage, frame_to_text
from biomm.errors import BiommError

ecg_app = typer.Typer(
    help="ECGs: read records, convert a cohort into an array store with an input profile, "
    "MERL ECG-report pretraining, embeddings, zero-shot classification and linear probes.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

SchemaOpt = Annotated[Path | None, typer.Option("--schema", "-s", help="Schema YAML.")]
DataRootOpt = Annotated[
    Path | None, typer.Option("--data-root", "-r", help="Root for relative paths.")
]
ProgressOpt = Annotated[bool, typer.Option(help="Show progress bars.")]
ModelOpt = Annotated[
    Path, typer.Option("--model", "-m", help="Checkpoint folder from `biomm ecg pretrain`.")
]
CohortOpt = Annotated[
    Path, typer.Option("--cohort", "-c", help="Cohort manifest with an ecg column.")
]
SplitOpt = Annotated[str | None, typer.Option(help="Only manifest rows of this split (e.g. test).")]
DeviceOpt = Annotated[str, typer.Option(help="Torch device: cpu, cuda, cuda:1.")]
BatchOpt = Annotated[int, typer.Option(min=1, help="Records per forward pass.")]
WorkersOpt = Annotated[int, typer.Option(min=1, help="Processes reading records.")]


def _cohort(path: Path, schema: Path | None, data_root: Path | None):
    from biomm.cohort import Cohort

    try:
        return Cohort.from_file(path, schema, data_root=data_root)
    except BiommError as exc:
        raise fail_usage(exc) from None


@ecg_app.command("info")
def info(
    record: Annotated[Path, typer.Argument(help="An ECG file (WFDB .hea, MUSE .xml, DICOM, …).")],
    fs: Annotated[float | None, typer.Option(help="Sampling rate for NumPy/CSV.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Read one ECG and print its rate, length, leads and header metadata.

    Exit 1 when the record cannot be read (the reason names the file).

    Example usage:

    \b
        biomm ecg info records/00001_hr.hea
    """
    from biomm.io.ecg import read_ecg

    try:
        ecg = read_ecg(record, fs=fs)
    except BiommError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    data = {
        "path": str(record),
        "fs": ecg.fs,
        "samples": int(ecg.signal.shape[1]),
        "seconds": round(ecg.duration, 3),
        "present": [n for n, p in zip(ecg.lead_names, ecg.present, strict=True) if p],
        "absent": [n for n, p in zip(ecg.lead_names, ecg.present, strict=True) if not p],
        "meta": {k: v for k, v in ecg.meta.items() if k != "comments"},
    }
    if as_json:
        typer.echo(json.dumps(data, indent=2, default=str))
        return
    for key, value in data.items():
        typer.echo(f"{key:>8}: {value}")


@ecg_app.command("profiles")
def profiles() -> None:
    """List the built-in input profiles (rate, length, leads, filters, normalisation).

    Example usage:

    \b
        biomm ecg profiles
    """
    import pandas as pd

    from biomm.ecg.profiles import PROFILES

    rows = [
        {
            "name": name,
            "fs": p.fs,
            "seconds": p.duration_s,
            "leads": len(p.leads),
            "bandpass": p.bandpass,
            "normalise": p.normalise,
        }
        for name, p in PROFILES.items()
    ]
    typer.echo(frame_to_text(pd.DataFrame(rows)))
    for name, p in PROFILES.items():
        typer.echo(f"\n{name}: {p.description}\n  reference: {p.reference}")


@ecg_app.command("synth")
def synth(
    out: Annotated[Path, typer.Argument(help="Output folder (new, or a previous synth).")],
    patients: Annotated[int, typer.Option("--patients", "-n", min=22, help="Records.")] = 600,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    fs: Annotated[float, typer.Option(help="Sampling rate of the records (Hz).")] = 500.0,
    epochs: Annotated[int, typer.Option(min=1, help="Epochs in pretrain.yaml.")] = 30,
) -> None:
    """Write a synthetic 12-lead ECG cohort with reports, a prompt set and a CPU config.

    Classes are physiological (rate, rhythm irregularity, QRS width, ST deviation, voltage,
    axis, PR interval); reports are varied machine-report text; classes.yaml describes the
    classes in other words for zero-shot prompts. Then run the printed commands.

    Example usage:

    \b
        biomm ecg synth ecg-exp -n 600
    """
    from biomm.ecg.experiment import write_synthetic_experiment

    try:
        paths = write_synthetic_experiment(out, patients, seed=seed, fs=fs, epochs=epochs)
    except BiommError as exc:
        raise fail_usage(exc) from None
    typer.echo(f"{patients} synthetic ECGs with reports -> {paths['manifest']}")
    typer.echo("next:")
    typer.echo(f"  biomm ecg pretrain --config {paths['config']}")
    model = out / "run" / "model"
    typer.echo(
        f"  biomm ecg zeroshot --model {model} --cohort {paths['manifest']} "
        f"--classes {paths['classes']} --split test --out {out / 'zeroshot'}"
    )
    typer.echo(
        f"  biomm ecg probe --model {model} --cohort {paths['manifest']} "
        f"--classes {paths['classes']} --out {out / 'probe'}"
    )
    typer.echo(
        f"  biomm ecg embed --model {model} --cohort {paths['manifest']} --out {out / 'ecg.h5'}"
    )


@ecg_app.command("convert")
def convert(
    manifest: Annotated[Path, typer.Argument(help="Cohort manifest with an ecg column.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Store folder.")],
    profile: Annotated[
        str, typer.Option("--profile", "-p", help="Profile name (biomm ecg profiles) or YAML.")
    ] = "merl",
    workers: WorkersOpt = 1,
    dtype: Annotated[str, typer.Option(help="float32 or float16.")] = "float32",
    fs: Annotated[float | None, typer.Option(help="Sampling rate of NumPy/CSV records.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Start the store over.")] = False,
    retry_failed: Annotated[bool, typer.Option(help="Try failed records again.")] = False,
    allow_failures: Annotated[bool, typer.Option(help="Exit 0 even if records failed.")] = False,
    scheduler: Annotated[
        str,
        typer.Option(
            help="none (--workers processes here), local (a Dask LocalCluster) or a Dask "
            "scheduler address such as tcp://host:8786."
        ),
    ] = "none",
    dask_workers: Annotated[
        int, typer.Option(min=1, help="Worker processes of --scheduler local.")
    ] = 2,
    schema: SchemaOpt = None,
    data_root: DataRootOpt = None,
    progress: ProgressOpt = True,
) -> None:
    """Convert a cohort's ECGs into a memory-mappable array store with an input profile.

    Resumable (rerun the same command after a crash), parallel (--workers, or Dask workers
    with --scheduler: they read and profile chunks of records, this process writes the same
    store), and a bad record is listed in STORE/failures.csv instead of stopping the run.
    Exit 1 when records failed.

    Example usage:

    \b
        biomm ecg convert cohort.csv --profile merl --out store/ --workers 8
        biomm ecg convert cohort.csv --out store/ --scheduler tcp://scheduler:8786
    """
    from biomm.ecg.store import cohort_sources, convert_ecgs

    if scheduler != "none":
        from biomm.pipeline.runner import check_scheduler

        try:
            check_scheduler(scheduler)
        except BiommError as exc:
            raise fail_usage(exc) from None
    cohort = _cohort(manifest, schema, data_root)
    try:
        sources = cohort_sources(cohort)
        summary = convert_ecgs(
            sources,
            out,
            profile,
            workers=workers,
            dtype=dtype,
            read_kwargs={"fs": fs} if fs else None,
            resume=not overwrite,
            retry_failed=retry_failed,
            progress=progress,
            scheduler=scheduler,
            dask_workers=dask_workers,
        )
    except BiommError as exc:  # also: --scheduler without the distributed extra
        raise fail_usage(exc) from None
    rate = summary.attempted / max(summary.seconds, 1e-9)
    typer.echo(
        f"{summary.attempted} record(s) read now ({summary.stored_now} stored, "
        f"{summary.attempted - summary.stored_now} failed, {rate:.0f} records/s), "
        f"{summary.skipped} handled by an earlier run; the store holds {summary.done} of "
        f"{summary.total} records -> {out}"
    )
    without = len(cohort) - len({s.row for s in sources})
    if without:
        typer.echo(f"{without} manifest row(s) have no ECG (a missing modality, not an error)")
    if summary.failed:
        typer.echo(f"{summary.failed} failed record(s): {out / 'failures.csv'}", err=True)
        if not allow_failures:
            raise typer.Exit(1)


@ecg_app.command("pretrain")
def pretrain(
    config: Annotated[Path, typer.Option("--config", help="Pretraining YAML.")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Override `out`.")] = None,
    epochs: Annotated[int | None, typer.Option(min=1, help="Override `epochs`.")] = None,
    device: Annotated[str | None, typer.Option(help="Override `device`.")] = None,
) -> None:
    """MERL pretraining: ECG encoder vs free-text reports (CMA + UMA losses).

    The config names the cohort (ecg and report columns), the input profile, the ECG encoder,
    the text model and the optimisation; see docs/ecg.md. Writes OUT/model (best validation
    loss), OUT/last, OUT/history.csv and the array store. Multi-GPU: launch with
    `torchrun --nproc_per_node N -m biomm ecg pretrain --config ...`.

    Example usage:

    \b
        biomm ecg pretrain --config merl.yaml --epochs 20
    """
    from biomm.ecg.pretrain import PretrainConfig
    from biomm.ecg.pretrain import pretrain as run

    try:
        cfg = PretrainConfig.from_yaml(config)
        updates = {k: v for k, v in {"out": out, "epochs": epochs, "device": device}.items() if v}
        cfg = cfg.model_copy(update=updates)
        summary = run(cfg)
    except BiommError as exc:
        raise fail_usage(exc if exc.path else f"{config}: {exc}") from None
    if summary.get("rank", 0) != 0:
        return  # under torchrun only the first process reports
    last = summary["history"][-1] if summary["history"] else {}
    typer.echo(
        f"trained on {summary['counts']['train']} records ({summary['counts']['val']} val) in "
        f"{summary['seconds']} s; last epoch: "
        + ", ".join(f"{k}={v:.4g}" for k, v in last.items() if isinstance(v, float))
        + f" -> {summary['checkpoint']}"
    )


@ecg_app.command("embed")
def embed(
    model: ModelOpt,
    cohort: CohortOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output HDF5 file.")],
    split: SplitOpt = None,
    store: Annotated[Path | None, typer.Option(help="Array store folder (reused).")] = None,
    allow_failures: Annotated[bool, typer.Option(help="Exit 0 even if records failed.")] = False,
    batch_size: BatchOpt = 256,
    device: DeviceOpt = "cpu",
    workers: WorkersOpt = 1,
    schema: SchemaOpt = None,
    data_root: DataRootOpt = None,
    progress: ProgressOpt = True,
) -> None:
    """Embed a cohort's ECGs with a pretrained model into an HDF5 file.

    Datasets: embeddings (N x D, unit norm), record_id, patient_id; attributes: the model's
    provenance and input profile. Records are profiled into an array store (--store, default
    OUT with the suffix .store; reused by later runs); unreadable records are listed in its
    failures.csv and make the exit code 1 unless --allow-failures.

    Example usage:

    \b
        biomm ecg embed --model run/model --cohort cohort.csv --out ecg_embeddings.h5
    """
    from biomm.ecg.inference import embed_cohort, write_embeddings
    from biomm.ecg.merl import load_checkpoint
    from biomm.utils.lock import output_lock

    table = _cohort(cohort, schema, data_root)
    try:
        with output_lock(out.absolute().parent, name=f".{out.name}.lock"):
            net, config = load_checkpoint(model)
            result = embed_cohort(
                net,
                config,
                table,
                store or out.with_suffix(".store"),
                split=split,
                batch_size=batch_size,
                device=device,
                workers=workers,
                progress=progress,
            )
            meta = {
                "checkpoint": str(model),
                "weights_sha256": config["weights_sha256"],
                "profile": config["profile"],
                "model": config["model"],
            }
            write_embeddings(result, out, meta)
    except BiommError as exc:
        raise fail_usage(exc) from None
    typer.echo(
        f"{len(result.index)} record(s) embedded ({result.embeddings.shape[1]}-d), "
        f"{len(result.failures)} failed -> {out}"
    )
    if result.failures:
        store_dir = store or out.with_suffix(".store")
        typer.echo(f"failures: {store_dir / 'failures.csv'}", err=True)
        if not allow_failures:
            raise typer.Exit(1)


@ecg_app.command("zeroshot")
def zeroshot(
    model: ModelOpt,
    cohort: CohortOpt,
    classes: Annotated[
        str, typer.Option("--classes", help="Prompt set YAML or a registered prompt set name.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")],
    split: SplitOpt = None,
    modes: Annotated[
        str, typer.Option(help="Prompt modes, comma-separated: knowledge, names.")
    ] = "knowledge,names",
    temperature: Annotated[float, typer.Option(help="Logit scale on cosine similarity.")] = 100.0,
    batch_size: BatchOpt = 256,
    device: DeviceOpt = "cpu",
    workers: WorkersOpt = 1,
    schema: SchemaOpt = None,
    data_root: DataRootOpt = None,
    progress: ProgressOpt = True,
) -> None:
    """Zero-shot classify a cohort's ECGs from text prompts (no labels needed).

    Writes scores.csv (class probabilities per record), prompts.json, failures.csv and,
    when the prompt set names label columns present in the manifest, metrics.json with
    per-class AUROC, average precision, best F1 and macro AUROC for each prompt mode.

    Example usage:

    \b
        biomm ecg zeroshot --model run/model --cohort cohort.csv --classes classes.yaml \\
            --split test --out zeroshot/
    """
    from biomm.ecg.zeroshot import zeroshot_cohort

    chosen = [m.strip() for m in modes.split(",") if m.strip()]
    bad = [m for m in chosen if m not in ("knowledge", "names")]
    if bad or not chosen:
        raise fail_usage(f"--modes: expected knowledge and/or names, got {modes!r}")
    table = _cohort(cohort, schema, data_root)
    try:
        summary = zeroshot_cohort(
            model,
            table,
            classes,
            out,
            split=split,
            modes=chosen,
            temperature=temperature,
            batch_size=batch_size,
            device=device,
            workers=workers,
            progress=progress,
        )
    except BiommError as exc:
        raise fail_usage(exc) from None
    typer.echo(f"{summary['records']} record(s) scored, {summary['failed_records']} failed")
    if summary["missing_label_columns"]:
        typer.echo(
            f"warning: label column(s) {summary['missing_label_columns']} of {classes} are not "
            "in the manifest: those classes are scored without metrics",
            err=True,
        )
    for mode, entry in summary["modes"].items():
        if "macro_auroc" in entry:
            typer.echo(
                f"{mode:>9}: macro AUROC {entry['macro_auroc']:.3f}, "
                f"macro best-F1 {entry['macro_best_f1']:.3f} over {entry['classes_scored']} classes"
            )
    typer.echo(f"-> {out}")


@ecg_app.command("probe")
def probe(
    model: ModelOpt,
    cohort: CohortOpt,
    classes: Annotated[
        str, typer.Option("--classes", help="Prompt set (its label columns) YAML or name.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")],
    fractions: Annotated[
        str, typer.Option(help="Fractions of training labels, comma-separated.")
    ] = "0.01,0.1,1",
    train_split: Annotated[str, typer.Option(help="Split to train probes on.")] = "train",
    test_split: Annotated[str, typer.Option(help="Split to evaluate on.")] = "test",
    batch_size: BatchOpt = 256,
    device: DeviceOpt = "cpu",
    workers: WorkersOpt = 1,
    schema: SchemaOpt = None,
    data_root: DataRootOpt = None,
    progress: ProgressOpt = True,
) -> None:
    """Linear probes on frozen embeddings at 1/10/100 % of the training labels.

    Writes probe.csv (macro and per-class test AUROC per label fraction).

    Example usage:

    \b
        biomm ecg probe --model run/model --cohort cohort.csv --classes classes.yaml --out probe/
    """
    from biomm.ecg.inference import embed_cohort, label_matrix
    from biomm.ecg.merl import load_checkpoint
    from biomm.ecg.probe import linear_probe
    from biomm.utils.atomic import atomic_write_table
    from biomm.zeroshot.prompts import get_prompt_set

    try:
        parts = sorted({float(f) for f in fractions.split(",") if f.strip()})
    except ValueError:
        raise fail_usage(
            f"--fractions: expected numbers like 0.01,0.1,1, got {fractions!r}"
        ) from None
    table = _cohort(cohort, schema, data_root)
    try:
        prompts = get_prompt_set(classes)
        names = [n for n in prompts.class_names if n in prompts.label_columns]
        if not names:
            raise fail_usage("--classes: the prompt set names no label columns")
        columns = [prompts.label_columns[n] for n in names]
        net, config = load_checkpoint(model)
        sets = {}
        for split in (train_split, test_split):
            emb = embed_cohort(
                net,
                config,
                table,
                out / f"store_{split}",
                split=split,
                batch_size=batch_size,
                device=device,
                workers=workers,
                progress=progress,
            )
            sets[split] = (
                emb.embeddings,
                label_matrix(table, emb.index["row"].astype(int).tolist(), columns),
            )
        result = linear_probe(*sets[train_split], *sets[test_split], names, fractions=parts)
    except BiommError as exc:
        raise fail_usage(exc) from None
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_table(result, out / "probe.csv")
    typer.echo(frame_to_text(result[["fraction", "n_train", "macro_auroc"]].round(4)))
    typer.echo(f"-> {out / 'probe.csv'}")
