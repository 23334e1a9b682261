"""Checkpoint round trip and every way a checkpoint file can be rejected."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from gennet.checkpoint import (
    FORMAT_VERSION,
    CheckpointMeta,
    default_checkpoint_path,
    load_checkpoint,
    read_meta,
    save_checkpoint,
    weights_sha256,
)
from gennet.errors import CheckpointError
from gennet.models import create_model


def _save_small(path: Path, **meta: Any) -> Path:
    torch.manual_seed(1)
    model = create_model("rmnet", width=0.25).eval()
    save_checkpoint(path, model, CheckpointMeta(arch="rmnet", arch_kwargs={"width": 0.25}, **meta))
    return path


def _rewrite(source: Path, target: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    """Load a checkpoint's payload, let ``change`` edit it in place and save it to ``target``."""
    payload = torch.load(source, weights_only=True)
    change(payload)
    torch.save(payload, target)
    return target


def _assert_rejected(path: Path, *fragments: str) -> None:
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert str(path) in message
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_round_trip_gives_identical_outputs_and_metadata(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = create_model("gennet", stripes=3).eval()
    meta = CheckpointMeta(
        arch="gennet",
        arch_kwargs={"stripes": 3},
        input_size=(128, 64),
        threshold=0.42,
        metrics={"val": {"macro_f1": 0.9}},
        data={"dataset": "unit test"},
        recipe={"lr": 0.001},
    )
    saved = save_checkpoint(tmp_path / "sub" / "model.pt", model, meta)
    loaded, loaded_meta = load_checkpoint(tmp_path / "sub" / "model.pt")

    x = torch.randn(2, 3, 128, 64)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    assert not loaded.training
    assert loaded_meta == saved
    assert loaded_meta.weights_sha256 == weights_sha256(model.state_dict())
    assert (loaded_meta.threshold, loaded_meta.input_size) == (0.42, (128, 64))
    assert loaded_meta.metrics == {"val": {"macro_f1": 0.9}}
    assert loaded_meta.preprocess_spec.input_size == (128, 64)
    assert not (tmp_path / "sub" / "model.pt.tmp").exists()


def test_read_meta_returns_meta_and_weights(tmp_path: Path) -> None:
    path = _save_small(tmp_path / "small.pt", threshold=0.3)
    meta, state_dict = read_meta(path)
    assert meta.arch == "rmnet" and meta.threshold == 0.3
    assert weights_sha256(state_dict) == meta.weights_sha256


def test_default_path_follows_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = _save_small(tmp_path / "env.pt")
    monkeypatch.delenv("GENNET_MODEL_PATH", raising=False)
    assert default_checkpoint_path().parts[-2:] == ("model_store", "gennet.pt")
    monkeypatch.setenv("GENNET_MODEL_PATH", str(path))
    assert default_checkpoint_path() == path
    assert load_checkpoint()[1].arch == "rmnet"


def test_missing_file(tmp_path: Path) -> None:
    _assert_rejected(tmp_path / "absent.pt", "not found")


def test_directory_instead_of_file(tmp_path: Path) -> None:
    _assert_rejected(tmp_path, "not found")


def test_truncated_file(tmp_path: Path) -> None:
    data = _save_small(tmp_path / "full.pt").read_bytes()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(data[: len(data) // 2])
    _assert_rejected(truncated, "not a readable checkpoint")


@pytest.mark.parametrize("data", [b"", b"not a checkpoint at all", bytes(range(256)) * 8])
def test_garbage_bytes(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "garbage.pt"
    path.write_bytes(data)
    _assert_rejected(path, "not a readable checkpoint")


def test_plain_state_dict_is_not_a_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "weights.pt"
    torch.save(create_model("rmnet", width=0.25).state_dict(), path)
    _assert_rejected(path, "not a GenNet checkpoint")


def test_tampered_weights_fail_the_digest(tmp_path: Path) -> None:
    source = _save_small(tmp_path / "ok.pt")

    def tamper(payload: dict[str, Any]) -> None:
        key = next(k for k, v in payload["state_dict"].items() if v.is_floating_point())
        payload["state_dict"][key] = payload["state_dict"][key] + 1e-3

    _assert_rejected(_rewrite(source, tmp_path / "tampered.pt", tamper), "SHA-256", "tampered")


def test_wrong_format_version(tmp_path: Path) -> None:
    source = _save_small(tmp_path / "ok.pt")

    def bump(payload: dict[str, Any]) -> None:
        payload["meta"]["format_version"] = FORMAT_VERSION + 1

    _assert_rejected(
        _rewrite(source, tmp_path / "future.pt", bump),
        f"format version {FORMAT_VERSION + 1} is not supported",
    )


def test_invalid_metadata_field(tmp_path: Path) -> None:
    source = _save_small(tmp_path / "ok.pt")

    def break_threshold(payload: dict[str, Any]) -> None:
        payload["meta"]["threshold"] = 1.5

    _assert_rejected(_rewrite(source, tmp_path / "bad.pt", break_threshold), "'threshold'")


def test_unknown_architecture(tmp_path: Path) -> None:
    source = _save_small(tmp_path / "ok.pt")

    def rename(payload: dict[str, Any]) -> None:
        payload["meta"]["arch"] = "no_such_net"

    _assert_rejected(_rewrite(source, tmp_path / "unknown.pt", rename), "unknown architecture")


@pytest.mark.parametrize(
    ("arch", "kwargs"),
    [("rmnet", {"width": 0.5}), ("gennet", {}), ("rmnet", {"no_such_argument": 1})],
)
def test_weights_that_do_not_fit_the_architecture(
    tmp_path: Path, arch: str, kwargs: dict[str, Any]
) -> None:
    source = _save_small(tmp_path / "ok.pt")

    def retarget(payload: dict[str, Any]) -> None:
        payload["meta"]["arch"], payload["meta"]["arch_kwargs"] = arch, kwargs

    _assert_rejected(_rewrite(source, tmp_path / "misfit.pt", retarget), "do not fit")


def _touch(path: str) -> None:
    Path(path).touch()


class _RunsCodeWhenUnpickled:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return _touch, (str(self.marker),)


def test_pickle_with_code_is_refused_without_running_it(tmp_path: Path) -> None:
    source = _save_small(tmp_path / "ok.pt")
    marker = tmp_path / "code-ran"
    path = tmp_path / "evil.pt"
    payload = torch.load(source, weights_only=True)
    payload["meta"]["recipe"] = _RunsCodeWhenUnpickled(marker)
    torch.save(payload, path)

    _assert_rejected(path, "not a readable checkpoint")
    assert not marker.exists()
    torch.load(path, weights_only=False)  # the file really does run code when fully unpickled
    assert marker.exists()
