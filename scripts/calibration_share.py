"""How wrong may the male share S of ``gennet calibrate --male-share S`` be before it hurts?

Scores the crops of a manifest's splits once (as ``gennet evaluate`` does, the checkpoint in torch),
groups them (by source by default), and for each group compares macro-F1 at the checkpoint's
threshold, at the best threshold chosen with labels, and at the share-quantile threshold for
S = 0.30 ... 0.70 and for S = the group's true male share plus an error of -0.20 ... +0.20.

Run from the repository root with the project's venv (gennet installed editable):

    .venv/bin/python scripts/calibration_share.py --data ../shared/data/peta --splits val test
"""

import argparse
import json
from pathlib import Path

import numpy as np

from gennet.checkpoint import default_checkpoint_path
from gennet.data.manifest import Sample, read_manifest, select
from gennet.evaluate.calibration_fit import (
    fit_group,
    group_key,
    labels_threshold,
    male_share_threshold,
    rows_by_group,
)
from gennet.evaluate.metrics import classification_metrics, macro_f1_curve
from gennet.evaluate.scoring import checkpoint_probs

SHARES = np.round(np.arange(0.30, 0.701, 0.05), 2)
ERRORS = np.round(np.arange(-0.20, 0.201, 0.05), 2)


def score(
    data: Path, splits: list[str], checkpoint: Path | None, sources: list[str]
) -> tuple[list[Sample], np.ndarray, float]:
    """P(male) of the crops of ``splits`` (of ``sources`` only, when given), and the checkpoint's
    threshold."""
    manifest = read_manifest(data)
    rows = [select(manifest, split, only_sources=sources) for split in splits]
    meta, probs = checkpoint_probs(checkpoint or default_checkpoint_path(), rows)
    return [s for split in rows for s in split], np.concatenate(probs), meta.threshold


def sweep(
    targets: np.ndarray, probs: np.ndarray, groups: dict[str, np.ndarray], default: float
) -> dict:
    """Per group: counts, true share, macro-F1 at the default, best, and share thresholds."""
    result = {}
    for name, rows in groups.items():
        t, p = targets[rows], probs[rows]
        true_share = float(t.mean())
        at_share = {f"{s:.2f}": male_share_threshold(p, float(s)) for s in SHARES}
        at_error = {
            f"{e:+.2f}": male_share_threshold(p, float(np.clip(true_share + e, 0, 1)))
            for e in ERRORS
        }
        cuts = [default, labels_threshold(p, t), *at_share.values(), *at_error.values()]
        f1 = macro_f1_curve(t, p, cuts).tolist()
        result[name] = {
            "n": len(rows),
            "n_male": int(t.sum()),
            "true_share": true_share,
            "default": f1[0],
            "best_with_labels": f1[1],
            "share": dict(zip(at_share, f1[2 : 2 + len(SHARES)], strict=True)),
            "error": dict(zip(at_error, f1[2 + len(SHARES) :], strict=True)),
            "thresholds": {"best": cuts[1], **{f"S={k}": v for k, v in at_share.items()}},
        }
    return result


def pooled(
    targets: np.ndarray,
    probs: np.ndarray,
    groups: dict[str, np.ndarray],
    share_of: dict[str, float],
) -> float:
    """Pooled macro-F1 with each group's share-quantile threshold."""
    per_crop = np.empty(len(targets))
    for name, rows in groups.items():
        per_crop[rows] = male_share_threshold(probs[rows], share_of[name])
    return float(classification_metrics(targets, probs, per_crop)["macro_f1"])


def label_budget(
    targets: np.ndarray,
    probs: np.ndarray,
    groups: dict[str, np.ndarray],
    default: float,
    budgets: list[int],
    min_per_label: int,
    half: bool = False,
    repeats: int = 200,
) -> dict:
    """Per group and budget b: fit on b random crops (with their labels, or by the group's true
    share without them), score the rest; mean macro-F1 over ``repeats`` draws. ``half`` adds the
    budget "half": fit on a random half of the group, score the other half."""
    rng = np.random.default_rng(0)
    result: dict = {}
    for name, rows in groups.items():
        t, p = targets[rows], probs[rows]
        share = float(t.mean())
        sizes = {str(b): b for b in budgets if b < len(rows) - 10}
        if half:
            sizes["half"] = len(rows) // 2
        for key, budget in sizes.items():
            figures = []
            for _ in range(repeats):
                order = rng.permutation(len(rows))
                fit, test = order[:budget], order[budget:]
                cuts = [
                    default,
                    fit_group(p[fit], t[fit], default, min_per_label=min_per_label).threshold,
                    male_share_threshold(p[fit], share),
                ]
                figures.append(macro_f1_curve(t[test], p[test], cuts))
            mean = np.mean(figures, axis=0).tolist()
            result.setdefault(name, {})[key] = dict(
                zip(("default", "labels", "share"), mean, strict=True)
            )
    return result


def print_table(table: dict, kept: list[str]) -> None:
    head = f"{'group':<13}{'n':>6}{'male%':>7}{'default':>9}{'best':>7}" + "".join(
        f"{'S=' + f'{s:.2f}':>8}" for s in SHARES
    )
    print(head)
    for name, r in table.items():
        mark = "" if name in kept else "  (excluded from means)"
        print(
            f"{name:<13}{r['n']:>6}{r['true_share']:>7.0%}{r['default']:>9.3f}"
            f"{r['best_with_labels']:>7.3f}"
            + "".join(f"{v:>8.3f}" for v in r["share"].values())
            + mark
        )


def print_means(table: dict, kept: list[str]) -> None:
    def mean(key: str, sub: str | None = None) -> float:
        return float(np.mean([table[g][key] if sub is None else table[g][key][sub] for g in kept]))

    print(f"\nmean over {len(kept)} groups ({', '.join(kept)}):")
    print(f"  default {mean('default'):.3f}   best with labels {mean('best_with_labels'):.3f}")
    print(
        "  S = true share + error: "
        + "  ".join(f"{e:+.2f}: {mean('error', f'{e:+.2f}'):.3f}" for e in ERRORS)
    )
    print(
        "  S fixed for every group: "
        + "  ".join(f"{s:.2f}: {mean('share', f'{s:.2f}'):.3f}" for s in SHARES)
    )


def print_budget(budget: dict) -> None:
    print(
        "\nfit on b random crops, macro-F1 on the rest (mean of 200 draws): default / labels / share"
    )
    for name, rows in budget.items():
        cells = "  ".join(
            f"b={b}: {r['default']:.3f} / {r['labels']:.3f} / {r['share']:.3f}"
            for b, r in rows.items()
        )
        print(f"  {name:<13}{cells}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--splits", nargs="+", default=["val", "test"])
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("--sources", nargs="*", default=[], help="only these sources")
    parser.add_argument("--by", choices=("camera", "source"), default="source")
    parser.add_argument("--min-per-label", type=int, default=10, help="groups kept in the means")
    parser.add_argument("--budgets", type=int, nargs="*", default=[], help="crops to fit on")
    parser.add_argument("--half", action="store_true", help="also fit on half of each group")
    parser.add_argument("--fit-min-per-label", type=int, default=10, help="as gennet calibrate")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    samples, probs, default = score(args.data, args.splits, args.checkpoint, args.sources)
    targets = np.array([s.target for s in samples])
    groups = rows_by_group(np.array([group_key(s, args.by) for s in samples]))
    table = sweep(targets, probs, groups, default)
    kept = [
        g for g, r in table.items() if min(r["n_male"], r["n"] - r["n_male"]) >= args.min_per_label
    ]
    print(f"{len(samples)} crops, splits {' '.join(args.splits)}, default threshold {default}")
    print_table(table, kept)
    print_means(table, kept)
    pooled_default = float(classification_metrics(targets, probs, default)["macro_f1"])
    truth = {g: table[g]["true_share"] for g in table}
    print(
        f"pooled macro-F1 (all {len(samples)} crops): default {pooled_default:.3f}, "
        f"S = true share {pooled(targets, probs, groups, truth):.3f}, "
        + ", ".join(
            f"S = {s:.2f} {pooled(targets, probs, groups, dict.fromkeys(table, float(s))):.3f}"
            for s in (0.4, 0.5, 0.6)
        )
    )
    budget = label_budget(
        targets,
        probs,
        {g: groups[g] for g in kept},
        default,
        args.budgets,
        args.fit_min_per_label,
        args.half,
    )
    if budget:
        print_budget(budget)
    if args.json is not None:
        result = {"default_threshold": default, "groups": table, "budget": budget}
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
