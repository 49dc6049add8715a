"""Seeded synthetic windows for the drift benchmark, generated chunk by chunk.

A window is a sequence of chunks of at most `CHUNK_ROWS` rows; chunk `i` of a window is drawn
from its own generator seeded with `(seed, window, i)`, so any chunk can be made alone and the
10x current window (chunks 0 .. 10k-1) starts with exactly the 1x one (chunks 0 .. k-1). The
generator never holds more than one chunk of the 10x window.

On disk, under `build/bench/data/r<rows>-s<seed>/`:
- `meta.json`: features (name, kind, categories), drifted features, chunk sizes;
- `ref/<feature>.npy`, `cur/<feature>.npy`: the 1x windows as columns (float64 for numeric
  features, int16 category codes for categorical ones);
- `capture/part-NNNNN.jsonl`: the current window as SageMaker data-capture JSON Lines, one file
  per chunk, CSV payloads; the first k files are the 1x window, all 10k the 10x window.

Numeric values are rounded to a few decimals before they are stored or written, so the CSV text
is short (as real payloads are) and parses back to exactly the stored float64: the in-memory
and the capture paths see the same numbers.
"""

from __future__ import annotations

import importlib
import io
import json
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
CodeArray = npt.NDArray[np.int16]

CHUNK_ROWS = 100_000
FORMAT_VERSION = 1
"""Bumped whenever the generated data changes, so a stale cache is regenerated."""

_WINDOW_IDS = {"ref": 0, "cur": 1}


@dataclass(frozen=True)
class Feature:
    """One synthetic feature: how to draw it in the reference and in the current window."""

    name: str
    kind: str  # "numeric" or "categorical"
    draw: Callable[[np.random.Generator, int, bool], FloatArray] | None = None
    """Numeric: (rng, rows, current) -> values, before rounding and missing values."""
    decimals: int = 4
    missing: float = 0.0
    """Share of NaN in both windows."""
    categories: tuple[str, ...] = ()
    drifted: bool = False

    def probabilities(self, current: bool) -> FloatArray:
        """Zipf-like category shares; a drifted categorical reverses them in the current window."""
        p: FloatArray = 1.0 / np.arange(1, len(self.categories) + 1, dtype=np.float64) ** 0.8
        p /= p.sum()
        return p[::-1].copy() if (current and self.drifted) else p


def _normal(mu: float, sigma: float, cur_mu: float | None = None) -> Callable[..., FloatArray]:
    def draw(rng: np.random.Generator, n: int, current: bool) -> FloatArray:
        m = cur_mu if (current and cur_mu is not None) else mu
        return rng.normal(m, sigma, n)

    return draw


def _lognormal(
    mu: float, sigma: float, cur_sigma: float | None = None
) -> Callable[..., FloatArray]:
    def draw(rng: np.random.Generator, n: int, current: bool) -> FloatArray:
        s = cur_sigma if (current and cur_sigma is not None) else sigma
        return rng.lognormal(mu, s, n)

    return draw


def _uniform(low: float, high: float) -> Callable[..., FloatArray]:
    def draw(rng: np.random.Generator, n: int, current: bool) -> FloatArray:
        return rng.uniform(low, high, n)

    return draw


def _cats(prefix: str, k: int) -> tuple[str, ...]:
    return tuple(f"{prefix}{i:02d}" for i in range(k))


# 16 numeric features (normal, lognormal, rounded ones with ties, three with NaN) and 4
# categorical ones (10-50 categories); drift injected in three numeric and one categorical.
FEATURES: tuple[Feature, ...] = (
    Feature("n00_normal", "numeric", _normal(0.0, 1.0)),
    Feature("n01_normal_shift", "numeric", _normal(50.0, 10.0, cur_mu=55.0), drifted=True),
    Feature("n02_normal", "numeric", _normal(-3.0, 0.5)),
    Feature("n03_normal_wide", "numeric", _normal(1000.0, 250.0), decimals=2),
    Feature("n04_lognormal", "numeric", _lognormal(0.0, 1.0)),
    Feature("n05_lognormal_scale", "numeric", _lognormal(1.0, 0.5, cur_sigma=0.8), drifted=True),
    Feature("n06_lognormal", "numeric", _lognormal(3.0, 0.25), decimals=3),
    Feature("n07_lognormal_heavy", "numeric", _lognormal(-1.0, 1.5), decimals=6),
    Feature("n08_int", "numeric", _normal(40.0, 12.0), decimals=0),
    Feature("n09_int_shift", "numeric", _normal(10.0, 3.0, cur_mu=11.5), decimals=0, drifted=True),
    Feature("n10_one_decimal", "numeric", _normal(5.0, 2.0), decimals=1),
    Feature("n11_lognormal_int", "numeric", _lognormal(2.0, 1.0), decimals=0),
    Feature("n12_lognormal_2dp", "numeric", _lognormal(0.0, 0.7), decimals=2),
    Feature("n13_normal_nan", "numeric", _normal(0.0, 2.0), missing=0.05),
    Feature("n14_lognormal_nan", "numeric", _lognormal(0.5, 0.6), missing=0.01),
    Feature("n15_uniform_nan", "numeric", _uniform(0.0, 100.0), decimals=3, missing=0.02),
    Feature("c0_plan", "categorical", categories=_cats("p", 10)),
    Feature("c1_region", "categorical", categories=_cats("r", 20), drifted=True),
    Feature("c2_device", "categorical", categories=_cats("d", 35)),
    Feature("c3_channel", "categorical", categories=_cats("h", 50)),
)
NUMERIC = tuple(f.name for f in FEATURES if f.kind == "numeric")
CATEGORICAL = tuple(f.name for f in FEATURES if f.kind == "categorical")
DRIFTED = tuple(f.name for f in FEATURES if f.drifted)


def chunk_sizes(rows: int, chunk_rows: int = CHUNK_ROWS) -> list[int]:
    """Sizes of the chunks of a window of `rows` rows."""
    full, rest = divmod(rows, chunk_rows)
    return [chunk_rows] * full + ([rest] if rest else [])


def make_chunk(seed: int, window: str, index: int, rows: int) -> dict[str, FloatArray | CodeArray]:
    """Chunk `index` of a window ("ref" or "cur"): numeric values and category codes."""
    rng = np.random.default_rng([seed, _WINDOW_IDS[window], index])
    current = window == "cur"
    out: dict[str, FloatArray | CodeArray] = {}
    for f in FEATURES:
        if f.kind == "numeric":
            assert f.draw is not None
            values = np.round(f.draw(rng, rows, current), f.decimals)
            if f.missing:
                values[rng.random(rows) < f.missing] = np.nan
            out[f.name] = values
        else:
            p = f.probabilities(current)
            out[f.name] = rng.choice(len(p), size=rows, p=p).astype(np.int16)
    return out


def _score(chunk: dict[str, FloatArray | CodeArray]) -> FloatArray:
    """A plausible model output per row (the capture's endpointOutput)."""
    x = np.nan_to_num(chunk["n00_normal"].astype(np.float64))
    y = chunk["n01_normal_shift"].astype(np.float64)
    z = x * 0.8 - (y - 50.0) * 0.02
    score: FloatArray = np.round(1.0 / (1.0 + np.exp(-z)), 6)
    return score


def capture_lines(chunk: dict[str, FloatArray | CodeArray], first_row: int) -> bytes:
    """SageMaker data-capture JSON Lines of one chunk (CSV payloads, plain encoding)."""
    # Only the generator needs pyarrow (its CSV writer is fast); it ships no type information.
    pa: Any = importlib.import_module("pyarrow")
    pacsv: Any = importlib.import_module("pyarrow.csv")

    arrays = []
    for f in FEATURES:
        values = chunk[f.name]
        if f.kind == "numeric":
            arrays.append(pa.array(values, from_pandas=True))  # NaN -> null -> empty field
        else:
            arrays.append(pa.array(np.asarray(f.categories, dtype=object)[values]))
    options = pacsv.WriteOptions(include_header=False, quoting_style="none")
    buf = io.BytesIO()
    pacsv.write_csv(pa.table(arrays, names=[f.name for f in FEATURES]), buf, options)
    inputs = buf.getvalue().split(b"\n")
    buf = io.BytesIO()
    pacsv.write_csv(pa.table([pa.array(_score(chunk))], names=["score"]), buf, options)
    outputs = buf.getvalue().split(b"\n")
    head = (
        b'{"captureData":{"endpointInput":{"observedContentType":"text/csv","mode":"INPUT","data":"'
    )
    middle = (
        b'","encoding":"CSV"},"endpointOutput":{"observedContentType":"text/csv; charset=utf-8",'
        b'"mode":"OUTPUT","data":"'
    )
    event = b'","encoding":"CSV"}},"eventMetadata":{"eventId":"'
    tail = b'","inferenceTime":"2026-11-27T00:00:00Z"},"eventVersion":"0"}\n'
    n = len(chunk[FEATURES[0].name])
    return b"".join(
        b"".join(
            (
                head,
                inputs[i],
                middle,
                outputs[i],
                event,
                b"%08x-0000-4000-8000-%012x" % (row, row),
                tail,
            )
        )
        for i, row in zip(range(n), range(first_row, first_row + n), strict=True)
    )


@dataclass
class Dataset:
    """A generated dataset on disk (see the module docstring for the layout)."""

    root: Path
    meta: dict[str, Any] = field(default_factory=dict)


def _write_meta(root: Path, rows: int, seed: int, scale: int) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "rows": rows,
        "seed": seed,
        "scale": scale,
        "chunks": chunk_sizes(rows),
        "features": [
            {"name": f.name, "kind": f.kind, "categories": list(f.categories)} for f in FEATURES
        ],
        "drifted": list(DRIFTED),
    }
    (root / "meta.json").write_text(json.dumps(meta, indent=1))
    return meta


def _iter_chunks(
    seed: int, window: str, sizes: list[int], scale: int
) -> Iterator[tuple[int, int, dict[str, FloatArray | CodeArray]]]:
    """(chunk index, first row, chunk) of a window `scale` times the size of `sizes`."""
    first = 0
    for i in range(len(sizes) * scale):
        n = sizes[i % len(sizes)]
        yield i, first, make_chunk(seed, window, i, n)
        first += n


def generate(base: Path, rows: int, seed: int, scale: int, log: Callable[[str], None]) -> Dataset:
    """Generate (or reuse) the dataset of `rows` rows with a `scale`x capture window."""
    root = base / f"r{rows}-s{seed}"
    done = root / ".complete"
    if done.exists():
        meta = json.loads((root / "meta.json").read_text())
        if meta["format_version"] == FORMAT_VERSION and meta["scale"] >= scale:
            return Dataset(root, meta)
    shutil.rmtree(root, ignore_errors=True)
    for sub in ("ref", "cur", "capture"):
        (root / sub).mkdir(parents=True)
    meta = _write_meta(root, rows, seed, scale)
    sizes: list[int] = meta["chunks"]
    for window in ("ref", "cur"):
        log(f"generating the {window} window: {rows:,} rows x {len(FEATURES)} features")
        parts: dict[str, list[FloatArray | CodeArray]] = {f.name: [] for f in FEATURES}
        for _, _, chunk in _iter_chunks(seed, window, sizes, 1):
            for name, values in chunk.items():
                parts[name].append(values)
        for name, values_list in parts.items():
            np.save(root / window / f"{name}.npy", np.concatenate(values_list))
        del parts
    log(f"writing capture files: {rows * scale:,} lines in {len(sizes) * scale} files")
    for i, first, chunk in _iter_chunks(seed, "cur", sizes, scale):
        (root / "capture" / f"part-{i:05d}.jsonl").write_bytes(capture_lines(chunk, first))
    done.touch()
    return Dataset(root, meta)


def load_window(
    root: Path, window: str, names: tuple[str, ...] | None = None
) -> dict[str, FloatArray | npt.NDArray[np.object_]]:
    """A window's columns as the engine takes them: float64 arrays, or arrays of str objects."""
    meta = json.loads((root / "meta.json").read_text())
    out: dict[str, FloatArray | npt.NDArray[np.object_]] = {}
    for f in meta["features"]:
        if names is not None and f["name"] not in names:
            continue
        values = np.load(root / window / f"{f['name']}.npy")
        if f["kind"] == "categorical":
            out[f["name"]] = np.asarray(f["categories"], dtype=object)[values]
        else:
            out[f["name"]] = values
    return out
