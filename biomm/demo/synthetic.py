"""Generate a synthetic multimodal cohort in real file formats.

Every patient has a latent risk ``z ~ N(0, 1)`` that drives the binary label ``high_risk``, the
survival time, and a signal in every modality: tissue cellularity in the slide, heart rate and
ST level in the ECG, lesion count in the fundus photo, age and a biomarker in the EHR, and the
wording of the pathology report. Modalities are missing at realistic rates, so the cohort
exercises missing-modality handling.

Files: Aperio-style pyramidal SVS slides (tiled JPEG, 0.5 µm/px, OpenSlide opens them), 12-lead
WFDB records (500 Hz, 10 s, header comments with age/sex), fundus PNGs, report text files and
inline reports, and ``cohort.csv`` + ``schema.yaml``.

Examples:
    >>> import tempfile
    >>> from biomm import Cohort
    >>> out = make_demo_cohort(tempfile.mkdtemp(), DemoCohortSpec(n_patients=6, slide_size=512))
    >>> cohort = Cohort.from_file(out / "cohort.csv", out / "schema.yaml")
    >>> cohort.validate().ok
    True
"""

from __future__ import annotations

import math
import shutil
from dataclasses import asdict, dataclass, field
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from PIL import Image, ImageDraw, ImageFilter
from tqdm.auto import tqdm

from biomm.errors import InputError
from biomm.utils.atomic import atomic_path, atomic_write_table, atomic_write_text

LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")


@dataclass(frozen=True)
class DemoCohortSpec:
    """Size and missingness of the demo cohort.

    Attributes:
        n_patients: Number of patients.
        seed: Random seed (same seed → same cohort, byte for byte except JPEG encoder versions).
        slide_size: Level-0 width and height of each slide in pixels (at ``slide_mpp``).
        slide_mpp: Microns per pixel at level 0.
        ecg_fs: ECG sampling rate in Hz.
        ecg_seconds: ECG duration in seconds.
        fundus_size: Fundus image width and height in pixels.
        availability: Probability that a patient has each modality.
    """

    n_patients: int = 120
    seed: int = 0
    slide_size: int = 1024
    slide_mpp: float = 0.5
    ecg_fs: int = 500
    ecg_seconds: float = 10.0
    fundus_size: int = 384
    availability: dict[str, float] = field(
        default_factory=lambda: {"wsi": 0.7, "ecg": 0.8, "fundus": 0.6, "report": 0.75, "ehr": 0.9}
    )


# ---- slides ---------------------------------------------------------------------------------


def _smooth_noise(rng: np.random.Generator, size: int, scale: int) -> np.ndarray:
    """Low-frequency noise in [0, 1] made by upsampling a coarse random grid."""
    coarse = rng.random((max(2, size // scale), max(2, size // scale))).astype(np.float32)
    img = Image.fromarray((coarse * 255).astype(np.uint8)).resize(
        (size, size), Image.Resampling.BICUBIC
    )
    return np.asarray(img, dtype=np.float32) / 255.0


def synthetic_he_tile(rng: np.random.Generator, size: int, cellularity: float) -> np.ndarray:
    """An H&E-like RGB image with nuclei density proportional to ``cellularity``.

    Pink stroma with purple nuclei inside an irregular tissue region, white background outside.

    Examples:
        >>> img = synthetic_he_tile(np.random.default_rng(0), 256, 0.5)
        >>> img.shape, img.dtype
        ((256, 256, 3), dtype('uint8'))
    """
    tissue = _smooth_noise(rng, size, 64)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    radial = 1.0 - ((xx - 0.5) ** 2 + (yy - 0.5) ** 2) * 3.2
    mask = (tissue * 0.6 + radial * 0.7) > 0.55
    stroma = np.array([236, 176, 204], np.float32) - 25 * _smooth_noise(rng, size, 16)[..., None]
    img = np.where(mask[..., None], stroma, np.array([243, 241, 244], np.float32))
    n_nuclei = int(cellularity * size * size / 90)
    ys = rng.integers(2, size - 2, n_nuclei)
    xs = rng.integers(2, size - 2, n_nuclei)
    keep = mask[ys, xs]
    ys, xs = ys[keep], xs[keep]
    nuclei = np.zeros((size, size), np.float32)
    for dy in (-2, -1, 0, 1, 2):  # 5×5 nuclei with clipped corners, written by index
        for dx in (-2, -1, 0, 1, 2):
            if abs(dy) + abs(dx) < 4:
                nuclei[ys + dy, xs + dx] = 1.0
    purple = np.array([92, 58, 140], np.float32)
    img = img * (1 - nuclei[..., None] * 0.85) + purple * nuclei[..., None] * 0.85
    img += rng.standard_normal((size, size, 1), dtype=np.float32) * 3
    return np.clip(img, 0, 255).astype(np.uint8)


def write_pyramidal_svs(path: Path, image: np.ndarray, mpp: float, magnification: int = 20) -> None:
    """Write an Aperio-style tiled JPEG pyramid (levels ×1, ×4, ×16 while ≥ 256 px).

    OpenSlide reports vendor ``aperio`` and reads ``openslide.mpp-x`` from the description.

    Examples:
        >>> import tempfile, openslide
        >>> p = Path(tempfile.mkdtemp()) / "s.svs"
        >>> write_pyramidal_svs(p, np.full((512, 512, 3), 200, np.uint8), mpp=0.5)
        >>> openslide.OpenSlide(str(p)).level_dimensions
        ((512, 512),)
    """
    import tifffile

    h, w = image.shape[:2]
    desc = (
        f"Aperio Image Library v12.0.0 \r\n{w}x{h} [0,0 {w}x{h}] (256x256) JPEG Q=80"
        f"|AppMag = {magnification}|MPP = {mpp}"
    )
    res = (1e4 / mpp, 1e4 / mpp)
    with atomic_path(path) as tmp, tifffile.TiffWriter(tmp) as tif:
        tif.write(
            image,
            tile=(256, 256),
            compression="jpeg",
            photometric="rgb",
            description=desc,
            resolution=res,
            resolutionunit="CENTIMETER",
            metadata=None,
        )
        level = image
        factor = 1
        while min(level.shape[:2]) >= 1024:
            factor *= 4
            small = Image.fromarray(image).resize((w // factor, h // factor), Image.Resampling.BOX)
            level = np.asarray(small)
            tif.write(
                level,
                tile=(256, 256),
                compression="jpeg",
                photometric="rgb",
                subfiletype=1,
                description=desc,
                metadata=None,
                resolution=(res[0] / factor, res[1] / factor),
                resolutionunit="CENTIMETER",
            )


# ---- ECG ------------------------------------------------------------------------------------

# Per-lead amplitude (mV) of P, QRS and T waves; a simplified but plausible 12-lead pattern.
_LEAD_AMPLITUDES = np.array(
    [
        [0.10, 0.9, 0.25],
        [0.15, 1.3, 0.35],
        [0.05, 0.5, 0.10],
        [-0.12, -1.0, -0.30],
        [0.05, 0.3, 0.12],
        [0.10, 0.9, 0.22],
        [0.08, -0.8, -0.10],
        [0.10, -0.4, 0.40],
        [0.10, 0.6, 0.45],
        [0.10, 1.4, 0.50],
        [0.10, 1.3, 0.40],
        [0.10, 1.0, 0.30],
    ],
    dtype=np.float64,
)


def synthetic_ecg(
    rng: np.random.Generator, fs: int, seconds: float, heart_rate: float, st_shift: float
) -> np.ndarray:
    """A 12-lead ECG (samples × 12, mV) from Gaussian P/QRS/T waves per beat.

    Adds an ST deviation of ``st_shift`` mV, baseline wander and noise.

    Examples:
        >>> sig = synthetic_ecg(np.random.default_rng(0), 500, 10.0, 70.0, 0.0)
        >>> sig.shape
        (5000, 12)
    """
    n = round(fs * seconds)
    t = np.arange(n) / fs
    rr = 60.0 / heart_rate
    beats = np.arange(rng.uniform(0, rr), seconds + rr, rr)
    beats = beats + rng.normal(0, 0.02 * rr, beats.shape)
    waves = np.zeros((n, 3))
    for onset in beats:
        for k, (offset, width) in enumerate(((-0.16, 0.025), (0.0, 0.012), (0.25, 0.05))):
            waves[:, k] += np.exp(-0.5 * ((t - onset - offset) / width) ** 2)
    signal = waves @ _LEAD_AMPLITUDES.T
    st_window = np.zeros(n)
    for onset in beats:
        st_window += np.exp(-0.5 * ((t - onset - 0.12) / 0.04) ** 2)
    signal += st_shift * st_window[:, None] * np.sign(_LEAD_AMPLITUDES[:, 1])
    wander = 0.08 * np.sin(2 * np.pi * rng.uniform(0.15, 0.35) * t + rng.uniform(0, 6.28))
    signal += wander[:, None] + rng.normal(0, 0.015, signal.shape)
    return signal.astype(np.float64)


def write_wfdb(path_stem: Path, signal: np.ndarray, fs: int, comments: list[str]) -> None:
    """Write a 12-lead WFDB record (format 16, 1000 adu/mV) as ``stem.hea`` + ``stem.dat``.

    Examples:
        >>> import tempfile, wfdb
        >>> stem = Path(tempfile.mkdtemp()) / "r1"
        >>> write_wfdb(stem, np.zeros((1000, 12)), 500, ["age: 60"])
        >>> wfdb.rdheader(str(stem)).sig_name[:3]
        ['I', 'II', 'III']
    """
    import wfdb

    path_stem.parent.mkdir(parents=True, exist_ok=True)
    wfdb.wrsamp(
        record_name=path_stem.name,
        fs=fs,
        units=["mV"] * signal.shape[1],
        sig_name=list(LEADS),
        p_signal=signal,
        fmt=["16"] * signal.shape[1],
        adc_gain=[1000.0] * signal.shape[1],
        baseline=[0] * signal.shape[1],
        comments=comments,
        write_dir=str(path_stem.parent),
    )


# ---- fundus ---------------------------------------------------------------------------------


def synthetic_fundus(rng: np.random.Generator, size: int, n_lesions: int) -> Image.Image:
    """A fundus-like photo with ``n_lesions`` bright exudate spots.

    Orange field of view on black, an optic disc and branching vessels.

    Examples:
        >>> synthetic_fundus(np.random.default_rng(0), 128, 3).size
        (128, 128)
    """
    img = Image.new("RGB", (size, size), (0, 0, 0))
    draw = ImageDraw.Draw(img)
    margin = int(size * 0.04)
    draw.ellipse([margin, margin, size - margin, size - margin], fill=(190, 85, 40))
    disc_x = size * rng.uniform(0.62, 0.72)
    disc_y = size * rng.uniform(0.45, 0.55)
    r = size * 0.07
    for _ in range(6):  # vessels: random walks out of the optic disc
        x, y = disc_x, disc_y
        angle = rng.uniform(0, 2 * math.pi)
        width = max(1, int(size / 120))
        for _ in range(30):
            angle += rng.normal(0, 0.25)
            nx, ny = x + math.cos(angle) * size / 40, y + math.sin(angle) * size / 40
            draw.line([x, y, nx, ny], fill=(120, 30, 20), width=width)
            x, y = nx, ny
    draw.ellipse([disc_x - r, disc_y - r, disc_x + r, disc_y + r], fill=(245, 210, 140))
    for _ in range(n_lesions):
        angle, dist = rng.uniform(0, 2 * math.pi), rng.uniform(0.05, 0.35) * size
        lx, ly = size / 2 + dist * math.cos(angle), size / 2 + dist * math.sin(angle)
        lr = size * rng.uniform(0.008, 0.018)
        draw.ellipse([lx - lr, ly - lr, lx + lr, ly + lr], fill=(250, 235, 150))
    return img.filter(ImageFilter.GaussianBlur(radius=size / 300))


# ---- reports --------------------------------------------------------------------------------


def synthetic_report(rng: np.random.Generator, z: float) -> str:
    """A short sectioned pathology report whose grade wording follows the latent risk.

    Examples:
        >>> "DIAGNOSIS:" in synthetic_report(np.random.default_rng(0), 1.0)
        True
    """
    noisy = z + rng.normal(0, 0.5)
    grade = "high-grade" if noisy > 0.3 else ("intermediate-grade" if noisy > -0.5 else "low-grade")
    mitoses = max(0, int(rng.poisson(3 + 6 / (1 + math.exp(-2 * z)))))
    necrosis = "Focal necrosis is present." if noisy > 0.8 else "No necrosis is identified."
    return (
        "CLINICAL HISTORY:\nMass, biopsy.\n\n"
        f"MICROSCOPIC:\nSections show a {grade} carcinoma with {mitoses} mitoses per 10 HPF. "
        f"{necrosis}\n\n"
        f"DIAGNOSIS:\nInvasive carcinoma, {grade}.\n"
    )


# ---- the cohort -----------------------------------------------------------------------------


def _draw_availability(rng: np.random.Generator, spec: DemoCohortSpec) -> dict[str, bool]:
    while True:
        has = {m: bool(rng.random() < p) for m, p in spec.availability.items()}
        if any(has.values()):
            return has


def make_demo_cohort(
    out_dir: str | PathLike[str], spec: DemoCohortSpec | None = None, *, progress: bool = False
) -> Path:
    """Write the demo cohort into ``out_dir`` and return that folder.

    Writes ``cohort.csv`` (manifest with EHR columns and targets), ``schema.yaml``,
    ``slides/*.svs``, ``ecg/*.hea|.dat``, ``fundus/*.png``, ``reports/*.txt`` and
    ``demo_spec.yaml`` (the parameters used).

    Args:
        out_dir: Output folder (created).
        spec: Cohort size, seed and missingness.
        progress: Show a progress bar.

    Examples:
        >>> import tempfile
        >>> out = make_demo_cohort(tempfile.mkdtemp(), DemoCohortSpec(n_patients=3,
        ...                        slide_size=512, availability={"ecg": 1.0}))
        >>> sorted(p.suffix for p in (out / "ecg").iterdir())
        ['.dat', '.dat', '.dat', '.hea', '.hea', '.hea']
    """
    spec = spec or DemoCohortSpec()
    out = prepare_demo_folder(out_dir)
    rng = np.random.default_rng(spec.seed)
    rows = []
    for i in tqdm(range(spec.n_patients), desc="demo cohort", unit="patient", disable=not progress):
        pid = f"P{i + 1:04d}"
        z = float(rng.normal())
        has = _draw_availability(rng, spec)
        row: dict[str, object] = {"patient_id": pid}
        if has.get("wsi"):
            cellularity = 0.35 + 0.5 / (1 + math.exp(-1.5 * z))
            image = synthetic_he_tile(rng, spec.slide_size, cellularity)
            write_pyramidal_svs(out / "slides" / f"{pid}.svs", image, spec.slide_mpp)
            row["slide"] = f"slides/{pid}.svs"
        age = float(np.clip(62 + 9 * z + rng.normal(0, 6), 25, 95))
        sex = "F" if rng.random() < 0.5 else "M"
        if has.get("ecg"):
            hr = float(np.clip(68 + 12 * z + rng.normal(0, 5), 40, 140))
            signal = synthetic_ecg(rng, spec.ecg_fs, spec.ecg_seconds, hr, -0.08 * max(z, 0))
            write_wfdb(
                out / "ecg" / pid,
                signal,
                spec.ecg_fs,
                [f"age: {int(age)}", f"sex: {sex}", f"heart_rate: {hr:.0f}"],
            )
            row["ecg"] = f"ecg/{pid}"
        if has.get("fundus"):
            lesions = int(rng.poisson(1 + 6 / (1 + math.exp(-2 * z))))
            path = out / "fundus" / f"{pid}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(path) as tmp:
                synthetic_fundus(rng, spec.fundus_size, lesions).save(tmp, format="PNG")
            row["fundus"] = f"fundus/{pid}.png"
        if has.get("report"):
            text = synthetic_report(rng, z)
            if rng.random() < 0.5:  # half as files, half inline: both are supported
                atomic_write_text(out / "reports" / f"{pid}.txt", text)
                row["report"] = f"reports/{pid}.txt"
            else:
                row["report"] = text.replace("\n", " ").strip()
        if has.get("ehr"):
            row["age"] = round(age, 1)
            row["sex"] = sex
            row["biomarker"] = round(float(np.exp(1.0 + 0.6 * z + rng.normal(0, 0.3))), 2)
            row["smoker"] = None if rng.random() < 0.2 else ("yes" if rng.random() < 0.3 else "no")
            row["bmi"] = None if rng.random() < 0.25 else round(float(rng.normal(27, 4)), 1)
        row["high_risk"] = int(z + rng.normal(0, 0.4) > 0.3)
        rate = 0.02 * math.exp(0.9 * z)
        event_time = float(rng.exponential(1 / rate))
        censor_time = float(rng.uniform(12, 96))
        row["os_months"] = round(min(event_time, censor_time), 2)
        row["os_event"] = int(event_time <= censor_time)
        rows.append(row)

    columns = [
        "patient_id",
        "slide",
        "ecg",
        "fundus",
        "report",
        "age",
        "sex",
        "biomarker",
        "smoker",
        "bmi",
        "high_risk",
        "os_months",
        "os_event",
    ]
    table = pd.DataFrame(rows).reindex(columns=columns)
    atomic_write_table(table, out / "cohort.csv")
    atomic_write_text(out / "schema.yaml", yaml.safe_dump(demo_schema(), sort_keys=False))
    atomic_write_text(out / "demo_spec.yaml", yaml.safe_dump(asdict(spec), sort_keys=False))
    return out


#: What a demo run writes into its folder (and may therefore replace on a rerun).
DEMO_OUTPUTS = ("slides", "ecg", "fundus", "reports", "cohort.csv", "schema.yaml", "demo_spec.yaml")


def prepare_demo_folder(out_dir: str | PathLike[str]) -> Path:
    """Create ``out_dir``, or clear the outputs of a previous demo run inside it.

    Only :data:`DEMO_OUTPUTS` of a folder holding ``demo_spec.yaml`` are removed; anything
    else in it is kept.

    Raises:
        InputError: When ``out_dir`` is a file, or a non-empty folder that is not a demo.

    Examples:
        >>> import tempfile
        >>> prepare_demo_folder(Path(tempfile.mkdtemp()) / "new").is_dir()
        True
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError("exists and is not a folder; choose another output folder", path=out)
    if out.is_dir() and any(out.iterdir()):
        if not (out / "demo_spec.yaml").is_file():
            raise InputError(
                "folder is not empty and holds no previous demo; choose a new output folder",
                path=out,
            )
        for name in DEMO_OUTPUTS:
            target = out / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    out.mkdir(parents=True, exist_ok=True)
    return out


def demo_schema() -> dict[str, object]:
    """The schema of the demo manifest, as a dictionary (written to ``schema.yaml``).

    Examples:
        >>> demo_schema()["targets"]["os"]["type"]
        'survival'
    """
    return {
        "patient_id": "patient_id",
        "modalities": {
            "wsi": {"column": "slide"},
            "ecg": {"column": "ecg"},
            "fundus": {"column": "fundus"},
            "report": {"column": "report"},
        },
        "ehr": {
            "columns": ["age", "sex", "biomarker", "smoker", "bmi"],
            "types": {
                "age": "continuous",
                "sex": "categorical",
                "biomarker": "continuous",
                "smoker": "categorical",
                "bmi": "continuous",
            },
        },
        "targets": {
            "high_risk": {"type": "binary", "column": "high_risk"},
            "os": {"type": "survival", "time": "os_months", "event": "os_event"},
        },
    }
