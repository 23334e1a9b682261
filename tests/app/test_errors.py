"""The error contract is one table: classes, answers, OpenAPI, metrics and README follow it."""

from pathlib import Path

import pytest

from app import errors
from app.errors import ERROR_KINDS, REJECTION_REASONS, ServiceError, kind_of
from app.http.handlers import describe, error_responses
from gennet.errors import ImageTooLargeError, InvalidImageError

README = Path(__file__).resolve().parents[2] / "README.md"
SERVICE_ERRORS = [
    value
    for value in vars(errors).values()
    if isinstance(value, type) and issubclass(value, ServiceError) and value is not ServiceError
]


@pytest.mark.parametrize("error", SERVICE_ERRORS, ids=lambda e: e.__name__)
def test_every_error_class_is_a_row_of_the_table(error: type[ServiceError]) -> None:
    exc = error()
    assert exc.kind in ERROR_KINDS
    status, detail = describe(exc)
    assert (status, detail.code, detail.message) == (
        exc.kind.status,
        exc.kind.code,
        exc.kind.message,
    )


def test_model_side_input_errors_map_to_their_rows() -> None:
    assert describe(InvalidImageError("bad"))[0] == 400
    assert describe(ImageTooLargeError("big"))[1].code == "image_too_large"
    assert kind_of(RuntimeError("bug")) is None
    with pytest.raises(TypeError):
        describe(RuntimeError("bug"))


def test_rejection_labels_are_the_counted_codes_once_each() -> None:
    assert len(REJECTION_REASONS) == len(set(REJECTION_REASONS))
    assert set(REJECTION_REASONS) == {k.code for k in ERROR_KINDS if k.counted}
    assert "queue_full" in REJECTION_REASONS and "internal_error" not in REJECTION_REASONS


def test_openapi_descriptions_list_every_code_of_a_status() -> None:
    text = error_responses(503)[503]["description"]
    assert "queue_full:" in text and "not_ready:" in text


def test_readme_documents_every_code_a_client_can_get() -> None:
    text = README.read_text()
    visible = {k.code for k in ERROR_KINDS if k.status != 499 and k.code != "startup_failed"}
    assert not [code for code in sorted(visible) if f"`{code}`" not in text]
