"""``biomm train``: fit a multimodal model (fusion + heads) from a YAML config.

Examples:
    >>> from typer.testing import CliRunner
    >>> import typer
    >>> app = typer.Typer()
    >>> _ = app.command()(train)
    >>> CliRunner().invoke(app, ["--help"]).exit_code
    0
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from biomm.cli.output import fail_usage, frame_to_text
from biomm.errors import BiommError


def train(
    config: Annotated[Path, typer.Option("--config", "-c", help="Training YAML.")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Override `out`.")] = None,
    epochs: Annotated[int | None, typer.Option(min=1, help="Override training.epochs.")] = None,
    bootstrap: Annotated[int, typer.Option(min=0, help="Bootstrap resamples for CIs.")] = 200,
    progress: Annotated[bool, typer.Option(help="Print one line per epoch.")] = True,
) -> None:
    """Train fusion + heads on per-modality embeddings; evaluate per availability pattern.

    The config names the cohort (targets, split column), one embedding table per modality
    (e.g. from `biomm ecg embed`), the fusion (multimodn, concat, late, attention,
    lego_merge, lego_fuse) and one head per task (binary, multiclass, multilabel,
    regression, survival_cox, survival_discrete); see docs/fusion.md. Writes OUT/model,
    history.csv, predictions.csv and metrics.csv (each task's metric with bootstrap CIs on
    all test patients and per modality-availability pattern).

    Example usage:

    \b
        biomm train --config train.yaml
    """
    from biomm.train.config import TrainConfig
    from biomm.train.run import run_training

    try:
        cfg = TrainConfig.from_yaml(config)
        if out is not None:
            cfg = cfg.model_copy(update={"out": out})
        if epochs is not None:
            cfg = cfg.model_copy(
                update={"training": cfg.training.model_copy(update={"epochs": epochs})}
            )
        summary = run_training(cfg, n_bootstrap=bootstrap, progress=progress)
    except BiommError as exc:
        raise fail_usage(exc if exc.path else f"{config}: {exc}") from None
    counts = summary["counts"]
    typer.echo(
        f"trained {summary['epochs']} epoch(s) on {counts['train']} patients "
        f"({counts['val']} val, {counts['test']} test) -> {summary['out']}"
    )
    if summary.get("test"):
        import pandas as pd

        typer.echo(frame_to_text(pd.DataFrame(summary["test"]).round(4)))
