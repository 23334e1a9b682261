"""``gennet loso`` on a tiny generated manifest: one fold per held-out source, scored on all of
its crops, a mean over the folds, and folds that are resumed rather than retrained."""

import json
from pathlib import Path

import pytest

from gennet.checkpoint import load_checkpoint
from gennet.cli import main
from gennet.train.config import TrainConfig
from gennet.train.loso import run_loso
from tests.gennet.conftest import MakeDataset

SOURCES = {"A": 6, "B": 4, "C": 8}  # crops per label and split


def _rows() -> list[tuple[str, str, str, str]]:
    return [
        (f"{source}/{split}_{label}_{i}.png", label, source, split)
        for source, n in SOURCES.items()
        for split in ("train", "val", "test")
        for label in ("male", "female")
        for i in range(n if split == "train" else 2)
    ]


@pytest.fixture
def tiny_data(tmp_path: Path, make_dataset: MakeDataset, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GENNET_CACHE_DIR", str(tmp_path / "cache"))
    return make_dataset(tmp_path / "data", _rows())


def test_loso_command_scores_each_held_out_source_on_all_its_crops(
    tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "loso"
    argv = ["loso", "--data", str(tiny_data), "--out", str(out), "--max-steps", "2"]
    argv += ["--batch-size", "4", "--set", "input_size=[64, 32]", "--set", "warmup_steps=0"]
    argv += ["--set", "augment.jpeg=0.5", "--set", "sampling.identity_cap=3"]
    assert main([*argv, "--holdout", "A", "--holdout", "B"]) == 0

    summary = json.loads((out / "loso.json").read_text())
    folds = {f["source"]: f for f in summary["folds"]}
    assert list(folds) == ["A", "B"]
    for source, fold in folds.items():
        assert fold["n"] == 2 * (SOURCES[source] + 4)  # train, val and test crops of the source
        assert fold["n_male"] == fold["n_female"]
        assert fold["steps"] == 2 and fold["wall_minutes"] > 0
        assert fold["best_macro_f1"] >= fold["macro_f1"]  # the best threshold is the best
        _, meta = load_checkpoint(out / source / "checkpoint.pt")
        assert meta.data["exclude_sources"] == [source]
        assert meta.recipe["augment"]["jpeg"] == 0.5
        assert "test_tta" not in meta.metrics  # folds skip the flip-TTA figures
        assert meta.data["counts"]["train"]["n"] == 2 * sum(
            n for s, n in SOURCES.items() if s != source
        )
    expected = (folds["A"]["auc"] + folds["B"]["auc"]) / 2
    assert summary["mean"]["auc"] == pytest.approx(expected)
    table = (out / "loso.md").read_text()
    assert table == capsys.readouterr().out.split("wrote ")[0]
    assert len(table.splitlines()) == 2 + 2 + 1  # header, folds, mean


def test_loso_resumes_folds_that_have_a_checkpoint(tiny_data: Path, tmp_path: Path) -> None:
    cfg = TrainConfig(
        data=tiny_data,
        out=tmp_path / "loso",
        input_size=(64, 32),
        batch_size=4,
        max_steps=1,
        warmup_steps=0,
        threads=1,
    )
    first = run_loso(cfg, ["C"])
    checkpoint = cfg.out / "C" / "checkpoint.pt"
    stamp = checkpoint.stat().st_mtime_ns
    again = run_loso(cfg, ["C"])
    assert checkpoint.stat().st_mtime_ns == stamp  # scored again, not retrained
    assert again["folds"] == first["folds"]


def test_compare_prints_recipes_side_by_side(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fold = {"macro_f1": 0.7, "auc": 0.8, "best_macro_f1": 0.75, "wall_minutes": 12.0}
    for name, shift in (("baseline", 0.0), ("camera", 0.05)):
        folds = [
            {**fold, "source": s, "macro_f1": fold["macro_f1"] + shift} for s in ("GRID", "MIT")
        ]
        mean = {**fold, "macro_f1": fold["macro_f1"] + shift}
        (tmp_path / name).mkdir()
        (tmp_path / name / "loso.json").write_text(json.dumps({"folds": folds, "mean": mean}))
    assert main(["loso", "--compare", str(tmp_path / "baseline"), str(tmp_path / "camera")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "baseline: macro-F1" in lines[0] and "camera: macro-F1" in lines[0]
    assert lines[2] == "| GRID | 0.700 / 0.800 / 0.750 / 12 | 0.750 / 0.800 / 0.750 / 12 |"
    assert lines[-1].startswith("| **mean** | 0.700") and len(lines) == 2 + 2 + 1


def test_compare_averages_only_the_folds_every_run_has(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fold = {"auc": 0.8, "best_macro_f1": 0.75, "wall_minutes": 10.0}
    runs = {"a": {"GRID": 0.6, "MIT": 0.7, "i-LID": 0.1}, "b": {"MIT": 0.8, "GRID": 0.5}}
    for name, f1 in runs.items():
        folds = [{**fold, "source": s, "macro_f1": v} for s, v in f1.items()]
        (tmp_path / name).mkdir()
        (tmp_path / name / "loso.json").write_text(json.dumps({"folds": folds, "mean": {}}))
    main(["loso", "--compare", str(tmp_path / "a"), str(tmp_path / "b")])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" | ")[0] for line in lines[2:]] == ["| GRID", "| MIT", "| **mean**"]
    assert lines[-1].startswith("| **mean** | 0.650 / ") and "| 0.650 / 0.800" in lines[-1]
