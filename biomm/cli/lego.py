"""``biomm lego``: merge separately trained MM-Lego runs into one multimodal model.

Examples:
    >>> from typer.testing import CliRunner
    >>> CliRunner().invoke(lego_app, ["merge", "--help"]).exit_code
    0
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from biomm.cli.output import fail_usage, frame_to_text
from biomm.errors import BiommError

lego_app = typer.Typer(
    help="MM-Lego: merge LegoBlocks trained separately (one run per modality) into one model.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def _weights(values: list[str]) -> dict[str, float]:
    out = {}
    for item in values:
        name, sep, value = item.partition("=")
        try:
            if not sep or not name:
                raise ValueError
            out[name] = float(value)
        except ValueError:
            raise typer.BadParameter(f"expected MODALITY=WEIGHT, got {item!r}") from None
    return out


@lego_app.command("merge")
def merge(
    runs: Annotated[
        list[Path],
        typer.Argument(help="`biomm train` outputs (or their model/ folders), 2 or more."),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")],
    fusion: Annotated[
        str, typer.Option(help="lego_merge (no training) or lego_fuse (fine-tune with --config).")
    ] = "lego_merge",
    latent_merge: Annotated[str, typer.Option(help="mean, sum or harmonic.")] = "mean",
    head_merge: Annotated[str, typer.Option(help="slerp or linear.")] = "slerp",
    mode: Annotated[str, typer.Option(help="lego_fuse only: stack or weave.")] = "stack",
    weight: Annotated[
        list[str] | None,
        typer.Option("--weight", "-w", help="MODALITY=WEIGHT of a block in the merge; repeat."),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="A training YAML whose cohort evaluates the merged model (its test split; "
            "Cox baselines fitted on its train split).",
        ),
    ] = None,
    fine_tune: Annotated[
        bool,
        typer.Option(help="Train the merged model with the config's settings (lego_fuse)."),
    ] = False,
    epochs: Annotated[int | None, typer.Option(min=1, help="Override training.epochs.")] = None,
    bootstrap: Annotated[int, typer.Option(min=0, help="Bootstrap resamples for CIs.")] = 200,
) -> None:
    """Merge the LegoBlocks of several `biomm train` runs into one model, no paired data needed.

    Train one run per modality with `fusion: {name: lego_merge}` (a unimodal cohort each is
    fine), all with the same block arguments (num_latents, depth, ...). The merge takes each
    run's block and encoder and merges the heads of the tasks the runs share. Writes
    OUT/model (a checkpoint like `biomm train`'s). With --config it also evaluates the
    merged model on that cohort (metrics.csv per availability pattern, predictions.csv); add
    --fine-tune (usually with --fusion lego_fuse) to train it briefly on paired data first.

    Example usage:

    \b
        biomm train -c ecg_only.yaml -o runs/ecg
        biomm train -c wsi_only.yaml -o runs/wsi
        biomm lego merge runs/ecg runs/wsi --out runs/merged --config both.yaml
        biomm lego merge runs/ecg runs/wsi --out runs/fused --fusion lego_fuse \\
            --config both.yaml --fine-tune --epochs 5
    """
    from biomm.train.lego import merge_lego_runs
    from biomm.train.trainer import save_model

    if fine_tune and config is None:
        raise fail_usage("--fine-tune needs --config (the paired training data)")
    try:
        model = merge_lego_runs(
            runs,
            fusion=fusion,
            latent_merge=latent_merge,
            head_merge=head_merge,
            mode=mode,
            weights=_weights(weight or []),
        )
        if config is None:
            from biomm.utils.lock import output_lock

            with output_lock(out):  # one run per folder; a killed run's lock dies with it
                save_model(model, out / "model", extra={"lego_runs": model.spec["lego_runs"]})
            typer.echo(
                f"merged {len(runs)} runs ({', '.join(model.fusion.modalities)}; tasks "
                f"{', '.join(model.heads)}) -> {out / 'model'}"
            )
            return
        from biomm.train.config import TrainConfig
        from biomm.train.run import run_training

        cfg = TrainConfig.from_yaml(config).model_copy(update={"out": out})
        if epochs is not None:
            cfg = cfg.model_copy(
                update={"training": cfg.training.model_copy(update={"epochs": epochs})}
            )
        summary = run_training(
            cfg, n_bootstrap=bootstrap, progress=fine_tune, model=model, fine_tune=fine_tune
        )
    except BiommError as exc:
        raise fail_usage(exc) from None
    typer.echo(f"merged {len(runs)} runs -> {summary['out']}")
    if summary.get("test"):
        import pandas as pd

        typer.echo(frame_to_text(pd.DataFrame(summary["test"]).round(4)))
