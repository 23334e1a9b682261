"""``gennet loso`` on a tiny generated manifest: one fold per held-out source, scored on all of
its crops, a mean over the folds, and folds that are resumed rather than retrained."""

import json
from pathlib import Path

import pytest

from gennet.checkpoint import load_checkpoint
from gennet.cli import main
from gennet.errors import ConfigError
from gennet.train.config import TrainConfig
from gennet.train.loso import check_fold_recipe, run_loso
from tests.support.data import MakeDataset

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


def _tiny_recipe(data: Path, out: Path) -> TrainConfig:
    return TrainConfig(
        data=data,
        out=out,
        input_size=(64, 32),
        batch_size=4,
        max_steps=1,
        warmup_steps=0,
        threads=1,
    )


def test_loso_resumes_folds_that_have_a_checkpoint(tiny_data: Path, tmp_path: Path) -> None:
    cfg = _tiny_recipe(tiny_data, tmp_path / "loso")
    first = run_loso(cfg, ["C"])
    checkpoint = cfg.out / "C" / "checkpoint.pt"
    stamp = checkpoint.stat().st_mtime_ns
    again = run_loso(cfg, ["C"])
    assert checkpoint.stat().st_mtime_ns == stamp  # scored again, not retrained
    assert again["folds"] == first["folds"]


def test_separate_holdout_runs_share_one_summary(tiny_data: Path, tmp_path: Path) -> None:
    """Folds trained by separate invocations (side by side) all end up in the run's loso.json."""
    cfg = _tiny_recipe(tiny_data, tmp_path / "loso")
    run_loso(cfg, ["C"])
    summary = run_loso(cfg.model_copy(update={"threads": 2}), ["A"])  # threads do not count
    assert [f["source"] for f in summary["folds"]] == ["A", "C"]
    on_disk = json.loads((cfg.out / "loso.json").read_text())
    assert on_disk["mean"]["auc"] == pytest.approx(
        (on_disk["folds"][0]["auc"] + on_disk["folds"][1]["auc"]) / 2
    )
    assert sorted(p.name for p in cfg.out.iterdir() if p.is_file()) == ["loso.json", "loso.md"]


def test_a_fold_trained_with_another_recipe_is_refused(tiny_data: Path, tmp_path: Path) -> None:
    cfg = _tiny_recipe(tiny_data, tmp_path / "loso")
    run_loso(cfg, ["C"])
    other = cfg.model_copy(update={"max_steps": 2})
    with pytest.raises(ConfigError, match=r"another recipe \(max_steps: 1 there, 2 asked\)"):
        run_loso(other, ["C"])
    with pytest.raises(ConfigError, match="max_steps"):  # a finished fold it did not ask for
        run_loso(other, ["A"])
    retrained = run_loso(other, ["C"], retrain=True)
    assert retrained["folds"][0]["steps"] == 2


def test_fold_recipe_check_fills_fields_added_since_with_their_defaults(tmp_path: Path) -> None:
    cfg = _tiny_recipe(tmp_path / "data", tmp_path / "loso" / "GRID")
    saved = cfg.to_dict() | {"train_minutes": 3.0, "out": "elsewhere", "final_tta": False}
    del saved["lr_schedule"], saved["sampling"]["samples_per_epoch"]  # an older checkpoint
    check_fold_recipe(saved, cfg)
    saved["augment"]["flip"] = 0.0
    with pytest.raises(ConfigError, match=r"augment\.flip: 0\.0 there, 0\.5 asked"):
        check_fold_recipe(saved, cfg)


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
