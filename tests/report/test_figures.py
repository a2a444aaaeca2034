"""Each report figure on small real data: what the axes hold, not just that nothing crashed."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from sklearn.metrics import precision_recall_curve, roc_curve

from biomm.errors import InputError
from biomm.eval import auroc, by_availability
from biomm.io.ecg import ECG, read_ecg
from biomm.io.wsi import VirtualSlide
from biomm.report import (
    availability_figure,
    calibration_figure,
    ecg_figure,
    heatmap_figure,
    km_figure,
    pattern_counts,
    pattern_metrics_figure,
    pr_figure,
    risk_groups,
    roc_band,
    roc_figure,
    trajectory_figure,
    zeroshot_figure,
)
from biomm.report.curves import pr_band, pr_points, roc_points
from biomm.report.plotting import png_bytes


def test_roc_and_pr_points_match_scikit_learn(binary_data):
    y, p = binary_data
    p = np.round(p, 1)  # many ties
    fpr, tpr = roc_points(y, p)
    ref_fpr, ref_tpr, _ = roc_curve(y, p, drop_intermediate=False)
    np.testing.assert_allclose(fpr, ref_fpr)
    np.testing.assert_allclose(tpr, ref_tpr)
    recall, precision = pr_points(y, p)
    ref_precision, ref_recall, _ = precision_recall_curve(y, p)
    np.testing.assert_allclose(recall[::-1], ref_recall[:-1])  # sklearn: decreasing recall
    np.testing.assert_allclose(precision[::-1], ref_precision[:-1])


def test_roc_band_contains_curve_and_is_monotone(binary_data):
    y, p = binary_data
    band = roc_band(y, p, n=60, seed=0)
    assert len(band) == 101 and band["tpr"].iloc[0] == 0 and band["tpr"].iloc[-1] == 1
    assert (band["low"] <= band["high"] + 1e-12).all()
    assert np.all(np.diff(band["tpr"]) >= 0)
    inside = (band["low"] - 1e-9 <= band["tpr"]) & (band["tpr"] <= band["high"] + 1e-9)
    assert inside.mean() > 0.9  # the full-data curve lies in its own band almost everywhere
    assert (band["high"] - band["low"]).max() > 0  # resampling varies the curve
    pr = pr_band(y, p, n=30, seed=0)
    assert np.all(np.diff(pr["precision"]) <= 1e-12)  # interpolated precision never rises


def test_roc_figure_legend_has_auroc_with_ci(binary_data):
    y, p = binary_data
    fig = roc_figure(y, p, n=50, seed=0)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert len(ax.get_lines()) == 2  # the ROC curve and the chance diagonal
    assert len(ax.collections) == 1  # the bootstrap band
    legend = ax.get_legend().get_texts()[0].get_text()
    match = re.match(r"AUROC (\d\.\d{3}) \(95% CI (\d\.\d{3})–(\d\.\d{3})\)", legend)
    assert match, legend
    value, low, high = (float(g) for g in match.groups())
    assert value == pytest.approx(auroc(y, p), abs=5e-4)
    assert low < value < high


def test_pr_figure_legend_and_prevalence_line(binary_data):
    y, p = binary_data
    ax = pr_figure(y, p, n=30).axes[0]
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts[0].startswith("AP ") and "CI" in texts[0]
    assert texts[1] == f"prevalence {y.mean():.2f}"


def test_curves_reject_single_class():
    with pytest.raises(InputError, match="single class"):
        roc_figure([1, 1, 1], [0.2, 0.5, 0.9])


def test_calibration_figure_counts_and_ece(binary_data):
    y, p = binary_data
    fig = calibration_figure(y, p, n_bins=5)
    top, bottom = fig.axes
    assert re.search(r"ECE = \d\.\d{3}", top.get_title())
    heights = [bar.get_height() for bar in bottom.patches]
    assert len(heights) == 5 and sum(heights) == len(y)  # one bar per bin, all samples
    annotations = [int(t.get_text()) for t in top.texts]
    assert sum(annotations) == len(y)  # every non-empty bin labelled with its count
    with pytest.raises(InputError, match="probabilities"):
        calibration_figure([0, 1], [-0.5, 2.0])


def test_km_figure_groups_logrank_and_numbers_at_risk(survival_data):
    from lifelines.statistics import multivariate_logrank_test

    time, event, risk = survival_data
    fig = km_figure(time, event, risk, groups="tertiles")
    ax, table = fig.axes
    title = ax.get_title()
    assert "log-rank p" in title
    groups = risk_groups(risk, 3)
    p = multivariate_logrank_test(time, groups, event).p_value
    assert p < 0.05  # the risk separates the groups
    assert f"{p:.3g}" in title or "p < 0.0001" in title
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert [s.split(" (")[0] for s in legend] == ["low risk", "intermediate risk", "high risk"]
    assert sum(int(re.search(r"n=(\d+)", s).group(1)) for s in legend) == len(time)
    at_start = [int(t.get_text()) for t in table.texts if t.get_position()[0] == 0]
    assert sorted(at_start) == sorted(np.bincount(pd.factorize(groups)[0]).tolist())
    two = km_figure(time, event, risk, groups=2)
    assert len(two.axes[0].get_legend().get_texts()) == 2


def test_risk_groups_are_quantiles():
    groups = risk_groups(np.arange(9.0), "tertiles")
    assert groups.tolist() == ["low risk"] * 3 + ["intermediate risk"] * 3 + ["high risk"] * 3
    with pytest.raises(InputError, match="unknown risk grouping"):
        risk_groups([1.0, 2.0], "deciles-ish")


def test_availability_figure_bars_match_counts():
    rng = np.random.default_rng(0)
    masks = {"ecg": rng.random(50) < 0.7, "wsi": rng.random(50) < 0.5}
    fig = availability_figure(masks)
    bars, dots = fig.axes
    counts = pattern_counts(masks)
    assert [round(p.get_height()) for p in bars.patches] == counts.tolist()
    assert [t.get_text() for t in dots.get_xticklabels()] == counts.index.tolist()
    assert {"ecg+wsi", "ecg", "wsi", "none"} == set(counts.index)
    assert [t.get_text() for t in dots.get_yticklabels()] == ["ecg", "wsi"]
    plain = availability_figure(masks, matrix=False)
    assert len(plain.axes) == 1


def test_pattern_counts_reads_cohort_availability(good_table):
    from biomm import Cohort

    availability = Cohort(good_table).availability()
    counts = pattern_counts(availability)
    assert counts.sum() == 4
    assert pattern_counts(availability.matrix).to_dict() == counts.to_dict()
    with pytest.raises(InputError):
        pattern_counts(42)


def test_pattern_metrics_figure_points_and_n(binary_data):
    y, p = binary_data
    present = {"ecg": np.ones(len(y), bool), "wsi": np.arange(len(y)) % 3 != 0}
    table = by_availability(auroc, y, p, present=present, n=30, name="auroc")
    ax = pattern_metrics_figure(table).axes[0]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == [f"{pat}\nn={n}" for pat, n in zip(table["pattern"], table["n"], strict=True)]
    assert len(ax.containers) == len(table)  # one error bar per pattern
    chance = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
    assert len(chance) == 1 and list(chance[0].get_ydata()) == [0.5, 0.5]
    points = [c.lines[0].get_ydata()[0] for c in ax.containers]
    np.testing.assert_allclose(points, table["auroc"])
    with pytest.raises(InputError, match="no values"):
        pattern_metrics_figure(table, "c_index")


def test_zeroshot_figure_sorted_bars():
    per_class = {
        "AF": {"auroc": 0.91, "positives": 12},
        "MI": {"auroc": 0.64, "positives": 30},
        "LBBB": {"auroc": 0.78, "positives": 5},
        "rare": {"auroc": float("nan"), "positives": 0},
    }
    ax = zeroshot_figure(per_class).axes[0]
    widths = [bar.get_width() for bar in ax.patches]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert len(widths) == 4
    assert labels[-1] == "AF (n+ = 12)" and labels[0] == "rare (n+ = 0)"  # best on top
    assert widths[1:] == sorted(widths[1:])
    assert "macro 0.777" in ax.get_title()
    frame = pd.DataFrame({"auroc": [0.7]}, index=["x"])
    assert len(zeroshot_figure(frame).axes[0].patches) == 1
    with pytest.raises(InputError, match="no 'f1' column"):
        zeroshot_figure(per_class, metric="f1")


def test_ecg_figure_layout_from_a_wfdb_record(tmp_path):
    from biomm.demo.synthetic import synthetic_ecg, write_wfdb

    signal = synthetic_ecg(np.random.default_rng(0), 500, 2.0, 70.0, 0.0)
    write_wfdb(tmp_path / "r1", signal, 500, ["age: 50"])
    record = read_ecg(tmp_path / "r1")
    fig = ecg_figure(record)
    ax = fig.axes[0]
    names = [t.get_text() for t in ax.texts if t.get_text() != "absent"]
    assert names[:12] == ["I", "aVR", "V1", "V4", "II", "aVL", "V2", "V5", "III", "aVF", "V3", "V6"]
    assert names[12] == "II"  # the rhythm strip
    assert len(ax.get_lines()) == 13  # 12 leads + rhythm strip
    rhythm = ax.get_lines()[-1].get_xdata()
    assert rhythm[-1] == pytest.approx(record.duration, abs=2 / record.fs)
    assert ax.get_aspect() == pytest.approx(0.4)  # 25 mm/s, 10 mm/mV


def test_ecg_figure_marks_absent_leads():
    t = np.arange(1000) / 500
    ecg = ECG.from_leads({"I": np.sin(8 * t), "II": np.cos(8 * t)}, fs=500, derive=False)
    ax = ecg_figure(ecg).axes[0]
    assert sum(t.get_text() == "absent" for t in ax.texts) == 10
    assert len(ax.get_lines()) == 3  # I, II and the rhythm strip
    assert ax.get_title().startswith("2-lead ECG, 500 Hz")
    with pytest.raises(InputError, match=r"needs \.signal"):
        ecg_figure(object())


def test_heatmap_figure_reuses_wsi_heatmap():
    from biomm.wsi.heatmap import score_heatmap

    slide = VirtualSlide(np.full((512, 768, 3), 230, np.uint8), mpp=0.5)
    coords = np.array([[0, 0], [256, 0], [512, 256]])
    scores = np.array([0.1, 0.5, 0.9])
    fig = heatmap_figure(slide, coords, scores, 256, mpp=4.0)
    shown = fig.axes[0].get_images()[0].get_array()
    np.testing.assert_array_equal(shown, score_heatmap(slide, coords, scores, 256, mpp=4.0))
    assert len(fig.axes) == 2  # image + colour bar
    with pytest.raises(InputError, match="2 scores for 3 tiles"):
        heatmap_figure(slide, coords, scores[:2], 256)


def test_trajectory_figure_marks_skipped_steps():
    steps = pd.DataFrame(
        {
            "patient_id": ["P01"] * 3 + ["P02"] * 3,
            "step": [0, 1, 2] * 2,
            "modality": ["initial", "ecg", "wsi"] * 2,
            "applied": [True, True, True, True, False, True],
            "y": [0.5, 0.7, 0.9, 0.5, 0.5, 0.2],
            "multi": ["[0.1, 0.9]"] * 6,
        }
    )
    ax = trajectory_figure(steps).axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["initial", "ecg", "wsi"]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["patient 1", "patient 2", "modality absent (skipped)"]
    assert "P01" not in " ".join(legend)
    skipped = [ln for ln in ax.get_lines() if ln.get_marker() == "X" and len(ln.get_xdata())]
    assert len(skipped) == 1 and list(skipped[0].get_xdata()) == [1]
    labelled = trajectory_figure(steps, "y", labels={"P01": "P01", "P02": "P02"}).axes[0]
    assert "P01" in [t.get_text() for t in labelled.get_legend().get_texts()]
    with pytest.raises(InputError, match="no numeric predictions"):
        trajectory_figure(steps, "multi")


def test_figures_render_to_png(binary_data):
    y, p = binary_data
    data = png_bytes(roc_figure(y, p, n=5))
    assert data.startswith(b"\x89PNG")
