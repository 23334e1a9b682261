"""Settings refuse what would fail later and quietly: a key no client can send, a zero limit."""

import pytest
from pydantic import SecretStr, ValidationError

from app.settings import Settings
from gennet.cli import main
from gennet.inference import DEFAULT_TTA_MARGIN

BAD_KEY = "must be printable ASCII without whitespace (a trailing newline from a mounted secret?)"


@pytest.mark.parametrize(
    "key", ["s3cret\n", "s3cret\r\n", " s3cret", "s3 cret", "s3cret\t", "s3crét"]
)
def test_an_api_key_with_whitespace_or_beyond_printable_ascii_is_refused(
    key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GENNET_API_KEY", key)
    with pytest.raises(ValidationError) as raised:
        Settings()
    assert f"GENNET_API_KEY {BAD_KEY}" in str(raised.value)
    assert "s3cr" not in str(raised.value)  # the error never quotes the secret


def test_a_printable_key_is_kept() -> None:
    key = "Ab0-._~+/=!#$%&'*^`|:;<>?@[]{}()\"\\,"
    settings = Settings(api_key=SecretStr(key))
    assert settings.api_key is not None and settings.api_key.get_secret_value() == key


def test_serve_refuses_a_key_with_a_trailing_newline_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GENNET_API_KEY", "from-a-secret-file\n")
    assert main(["serve", "--port", "1"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("gennet serve: error: invalid setting GENNET_API_KEY")
    assert BAD_KEY in lines[0] and "from-a-secret-file" not in lines[0]


def test_head_limits_default_to_8_and_16_kib_and_must_be_positive(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = Settings()
    assert (settings.max_url_bytes, settings.max_header_bytes) == (8192, 16384)
    for name in ("GENNET_MAX_URL_BYTES", "GENNET_MAX_HEADER_BYTES"):
        with monkeypatch.context() as env:
            env.setenv(name, "0")
            with pytest.raises(ValidationError):
                Settings()


def test_tta_margin_defaults_to_the_library_default_and_reads_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings().tta_margin == DEFAULT_TTA_MARGIN
    for value in ("0", "0.1", "1"):
        monkeypatch.setenv("GENNET_TTA_MARGIN", value)
        assert Settings().tta_margin == float(value)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("1.5", "less than or equal to 1"),
        ("-0.1", "greater than or equal to 0"),
        ("nan", "less than or equal to 1"),
        ("a quarter", "valid number"),
    ],
)
def test_a_tta_margin_outside_0_to_1_is_refused_in_one_line(
    value: str, reason: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GENNET_TTA_MARGIN", value)
    with pytest.raises(ValidationError) as raised:
        Settings()
    assert "tta_margin" in str(raised.value)
    assert main(["serve", "--port", "1"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("gennet serve: error: invalid setting GENNET_TTA_MARGIN")
    assert reason in lines[0]
