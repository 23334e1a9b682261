"""Percentiles and markdown tables shared by the benchmark scripts."""

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def percentiles_ms(seconds: Sequence[float]) -> dict[str, float | None]:
    """p50 / p90 / p99 / mean in milliseconds (None when there is no sample)."""
    if not len(seconds):
        return {"p50": None, "p90": None, "p99": None, "mean": None}
    ms = np.asarray(seconds, dtype=np.float64) * 1000.0
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    return {"p50": float(p50), "p90": float(p90), "p99": float(p99), "mean": float(ms.mean())}


def paired_ratios(figures: Sequence[float], baselines: Sequence[float]) -> list[float]:
    """Round by round, a figure over the baseline's in the same round (they ran back to back):
    robust to the machine drifting between rounds, which the medians of each are not."""
    return [a / b for a, b in zip(figures, baselines, strict=True)]


def fmt(value: object, digits: int = 2) -> str:
    """A table cell: floats rounded, None as a dash."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def verdict(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


def write_json(path: Path, result: dict) -> None:
    """Write a benchmark's result as JSON and say where."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2))
    print(f"\nJSON: {path}")
