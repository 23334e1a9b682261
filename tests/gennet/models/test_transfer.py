"""Partial loading of compatible weights (``--init-from``) and its report."""

from pathlib import Path

import pytest
import torch

from gennet.errors import CheckpointError
from gennet.models import create_model
from gennet.models.transfer import load_partial


def test_partial_load_reports_loaded_skipped_unexpected_and_missing(tmp_path: Path) -> None:
    torch.manual_seed(0)
    source = create_model("gennet", stripes=3).state_dict()  # head.fc has another shape
    source = {f"module.{k}": v for k, v in source.items() if not k.startswith("features.18.")}
    source["module.extra.weight"] = torch.zeros(3)
    path = tmp_path / "backbone.pt"
    torch.save(source, path)

    torch.manual_seed(1)
    model = create_model("gennet")
    report = load_partial(model, path)

    state = model.state_dict()
    assert "features.0.0.weight" in report.loaded
    assert torch.equal(state["features.0.0.weight"], source["module.features.0.0.weight"])
    assert report.shape_mismatch == ["head.fc.weight"]
    assert report.unexpected == ["extra.weight"]
    assert report.missing and all(k.startswith("features.18.") for k in report.missing)
    assert len(report.loaded) + len(report.shape_mismatch) + len(report.missing) == len(state)
    assert f"loaded {len(report.loaded)} tensors" in report.summary()


def test_a_checkpoint_file_loads_completely(checkpoint_path: Path) -> None:
    model = create_model("gennet")
    report = load_partial(model, checkpoint_path)
    assert report.missing == report.shape_mismatch == report.unexpected == []
    assert len(report.loaded) == len(model.state_dict())


def test_unreadable_source_is_a_checkpoint_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.pt"
    path.write_bytes(b"junk")
    with pytest.raises(CheckpointError, match=r"junk\.pt"):
        load_partial(create_model("gennet"), path)
    torch.save([1, 2, 3], path)
    with pytest.raises(CheckpointError, match="does not hold a state dict"):
        load_partial(create_model("gennet"), path)
