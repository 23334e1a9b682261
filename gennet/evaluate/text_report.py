"""A human-readable text report of an evaluation (the dict built by ``gennet evaluate``)."""

import math
from typing import Any

from gennet.evaluate.metrics import CLASS_NAMES


def _num(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.4f}"


def _delta(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:+.4f}"


def _header(report: dict[str, Any]) -> list[str]:
    lines = []
    run = report.get("run")
    if run:
        lines.append(
            f"GenNet evaluation of {run['checkpoint']} ({run['arch']}) on {run['data']}, "
            f"split {run['split']}, TTA {'on' if run['tta'] else 'off'}"
        )
    lines.append(
        f"n {report['n']}   accuracy {_num(report['accuracy'])}   "
        f"macro-F1 {_num(report['macro_f1'])}   ROC AUC {_num(report['auc'])}   "
        f"threshold {report['threshold']:.2f}"
    )
    return lines


def _per_class(report: dict[str, Any]) -> list[str]:
    lines = [f"{'class':<10}{'precision':>10}{'recall':>10}{'F1':>10}{'support':>10}"]
    for i, name in enumerate(CLASS_NAMES):
        lines.append(
            f"{name:<10}{_num(report['precision'][name]):>10}{_num(report['recall'][name]):>10}"
            f"{_num(report['f1'][name]):>10}{sum(report['confusion'][i]):>10}"
        )
    lines.append(f"{'macro':<10}{'':>20}{_num(report['macro_f1']):>10}")
    return lines


def _confusion(report: dict[str, Any]) -> list[str]:
    lines = ["confusion matrix (rows: true class, columns: predicted class)"]
    lines.append(f"{'':<10}" + "".join(f"{name:>10}" for name in CLASS_NAMES))
    for name, row in zip(CLASS_NAMES, report["confusion"], strict=True):
        lines.append(f"{name:<10}" + "".join(f"{count:>10}" for count in row))
    return lines


def _per_source(report: dict[str, Any]) -> list[str]:
    lines = [
        "per source",
        f"{'source':<14}{'n':>7}{'accuracy':>10}{'macro-F1':>10}{'AUC':>10}"
        f"{'F1 male':>10}{'F1 female':>11}",
    ]
    for source, m in report["per_source"].items():
        lines.append(
            f"{source or '(none)':<14}{m['n']:>7}{_num(m['accuracy']):>10}"
            f"{_num(m['macro_f1']):>10}{_num(m['auc']):>10}"
            f"{_num(m['f1']['male']):>10}{_num(m['f1']['female']):>11}"
        )
    return lines


def _tta_effect(report: dict[str, Any]) -> list[str]:
    without, effect = report["tta"]["without"], report["tta"]["effect"]
    lines = [
        "effect of TTA (horizontal-flip averaging)",
        f"{'':<14}{'without':>10}{'with':>10}{'change':>10}",
    ]
    for key, label in (("accuracy", "accuracy"), ("macro_f1", "macro-F1"), ("auc", "ROC AUC")):
        lines.append(
            f"{label:<14}{_num(without[key]):>10}{_num(report[key]):>10}{_delta(effect[key]):>10}"
        )
    lines.append("macro-F1 per source")
    for source, change in effect["per_source"].items():
        lines.append(
            f"  {source or '(none)':<12}{_num(without['per_source'][source]['macro_f1']):>10}"
            f"{_num(report['per_source'][source]['macro_f1']):>10}{_delta(change['macro_f1']):>10}"
        )
    return lines


def format_report(report: dict[str, Any]) -> str:
    """The overall figures, per-class table, confusion matrix, per-source table and TTA effect."""
    sections = [_header(report), _per_class(report), _confusion(report), _per_source(report)]
    if "tta" in report:
        sections.append(_tta_effect(report))
    return "\n\n".join("\n".join(lines) for lines in sections) + "\n"
