"""The v2 request parser's bounds (issue 24): a body under the upload limit made of millions of
tiny values, deep nesting, a megabyte where a name belongs or pixels no normalisation gives is
refused quickly, in little memory, with a short message."""

import json
import struct
import time
import traceback
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import simdjson

from app.protocols.v2 import messages as oip
from app.protocols.v2.tensors import PIXEL_TOLERANCE
from tests.support.v2 import META, SIZE, SPEC, encoded, normalised, parse

BODY_LIMIT = 8 * 1024 * 1024  # the default GENNET_MAX_UPLOAD_BYTES
FP32_HEAD = b'{"inputs":[{"name":"preprocessed_image","datatype":"FP32","shape":[1,3,8,4],"data":['
BYTES_HEAD = b'{"inputs":[{"name":"encoded_image","datatype":"BYTES","shape":[1],"data":['


def refusal(doc: Any, binary: bytes = b"", header: str | None = None) -> str:
    with pytest.raises(oip.ProtocolError) as refused:
        parse(doc, binary, header)
    assert refused.value.status == 400
    return refused.value.message


def fp32(data: Any, shape: list[int] | None = None, **tensor: Any) -> dict[str, Any]:
    fields = {"name": oip.PREPROCESSED, "datatype": "FP32", "shape": shape or [1, 3, *SIZE]}
    return {"inputs": [{**fields, "data": data, **tensor}]}


def crops(count: int = 1) -> np.ndarray:
    rng = np.random.default_rng(count)
    return normalised(rng.random((count, 3, *SIZE)))


def filled(head: bytes, item: bytes, tail: bytes = b"]}]}") -> bytes:
    """``head`` + ``item,item,...`` + ``tail``, as many items as fit in the upload limit."""
    count = (BODY_LIMIT - len(head) - len(tail)) // (len(item) + 1)
    return head + b",".join([item] * count) + tail


# --- nesting ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "doc",
    [
        {**encoded(b"a"), "parameters": {"tta": True, "x": [[[[[[[[1]]]]]]]]}},
        {**encoded(b"a"), "junk": [[[[[[[[{"a": [[1]]}]]]]]]]]},
        {"inputs": [{**encoded(b"a")["inputs"][0], "shape": [[[[[[[[[1]]]]]]]]]}]},
    ],
    ids=["in parameters", "under an unknown key", "in a shape"],
)
def test_a_document_nested_deeper_than_a_request_needs_is_refused(doc: dict[str, Any]) -> None:
    assert "more than 8 deep" in refusal(doc)


def test_brackets_quotes_and_backslashes_inside_strings_are_not_nesting() -> None:
    request_id = '[[[[[[[[[[ \\" ]]]]]]]]]]] \\\\ "[{' + "[" * 20
    doc = {**encoded(b"a"), "id": request_id, "parameters": {"camera": "gate-3"}}
    assert parse(doc).id == request_id
    tricky = b'{"id":"\\\\\\"[[[[[[[[[[","inputs":[{"name":"encoded_image","datatype":"BYTES",'
    assert parse(tricky + b'"shape":[1],"data":["YQ=="]}]}').id == '\\"' + "[" * 10


def test_fp32_data_nested_deeper_than_its_shape_is_refused() -> None:
    too_deep = crops(1).reshape(1, 1, 3, *SIZE).tolist()  # 96 numbers, 5 deep
    assert "nested at most 4 deep" in refusal(fp32(too_deep))


def test_fp32_data_is_flat_or_nested_as_its_shape_with_leading_dimensions_merged() -> None:
    array = crops(2)
    shape = [2, 3, *SIZE]
    for nesting in ((-1,), (-1, SIZE[1]), (-1, *SIZE), (2, 3, *SIZE)):
        got = parse(fp32(array.reshape(nesting).tolist(), shape)).arrays
        assert got is not None
        np.testing.assert_array_equal(got, array)
    rows = array.reshape(-1, SIZE[1]).tolist()
    ragged = [rows[0] + rows[1][:1], rows[1][1:], *rows[2:]]  # 192 numbers in uneven rows
    not_as_shape = array.reshape(6, SIZE[0] * SIZE[1]).tolist()  # a regrouping, not the shape
    mixed = [*rows[:-1], [*rows[-1][:-1], [rows[-1][-1], 0.0]]]  # a leaf that is an array
    for data in (ragged, not_as_shape, mixed):
        assert "must be 192 numbers" in refusal(fp32(data, shape))


# --- counts before work -----------------------------------------------------------------------


def _refused_fast_and_small(body: bytes, message: str, header: str | None = None) -> None:
    """``body`` is refused with ``message`` within 1 s, with Python allocations under twice the
    body (``json.loads`` took 8 to 47 times it for these bodies)."""
    tracemalloc.start()
    try:
        started = time.perf_counter()
        assert message in refusal(body, header=header)
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert elapsed < 1.0 and peak < 2 * len(body), (elapsed, peak)


_WORST: dict[str, tuple[Callable[[], bytes], str]] = {
    "4M zeros": (lambda: filled(FP32_HEAD, b"0"), "must be 96 numbers"),
    "1M nested triples": (lambda: filled(FP32_HEAD, b"[[[0]]]"), "must be 96 numbers"),
    "1.7M short strings": (lambda: filled(BYTES_HEAD, b'"YQ"'), "shape says 1 elements"),
    "a wide shape": (
        lambda: filled(
            BYTES_HEAD.split(b'"shape"')[0] + b'"data":["YQ=="],"shape":[[', b"0", b"]]}]}"
        ),
        "'shape' must be a list",
    ),
    "an unknown key": (
        lambda: filled(b'{"inputs":[],"junk":[', b"[1000]", b"]}"),
        "send exactly one input",
    ),
}


@pytest.mark.parametrize("case", list(_WORST))
def test_millions_of_tiny_values_are_refused_fast_and_small(case: str) -> None:
    body, message = _WORST[case]
    _refused_fast_and_small(body(), message)


def test_a_refusal_holds_no_part_of_the_parsed_document() -> None:
    """The error outlives the parse (it is logged, answered): its traceback's frames must not
    keep the document's tape alive."""
    with pytest.raises(oip.ProtocolError) as refused:
        parse(fp32([[0.0] * 4] * 5))  # refused deep inside, with proxies in every frame
    frames = [frame for frame, _ in traceback.walk_tb(refused.value.__traceback__)]
    held = [value for frame in frames for value in frame.f_locals.values()]
    assert not [v for v in held if isinstance(v, simdjson.Array | simdjson.Object)]
    assert refused.value.__context__ is None


def test_json_bytes_count_and_item_limit_are_checked_before_any_string_is_decoded() -> None:
    not_base64 = {"inputs": [{**encoded(b"a")["inputs"][0], "data": ["YQ==", "%%%"]}]}
    assert "shape says 1 elements, the data has 2" in refusal(not_base64)
    too_many = encoded(b"a", b"b", b"c", b"d")
    too_many["inputs"][0]["data"][3] = "%%%"
    assert "send 1 to 3 crops per request; got 4" in refusal(too_many)


def _bytes_tensor(*elements: bytes) -> bytes:
    return b"".join(struct.pack("<I", len(e)) + e for e in elements)


def _binary_bytes(raw: bytes, count: int = 1) -> dict[str, Any]:
    tensor = {"name": oip.ENCODED, "datatype": "BYTES", "shape": [count]}
    return {"inputs": [{**tensor, "parameters": {"binary_data_size": len(raw)}}]}


def test_binary_bytes_splitting_stops_at_the_first_element_past_the_shape() -> None:
    raw = _bytes_tensor(b"crop", b"more") + b"\xff\xff"  # a broken third element: never read
    assert "shape says 1 elements, the data has more" in refusal(_binary_bytes(raw), raw)
    assert parse(_binary_bytes(raw[:8]), raw[:8]).images == [b"crop"]

    empties = b"\0" * (BODY_LIMIT // 2)  # a million empty elements
    header = json.dumps(_binary_bytes(empties)).encode()
    _refused_fast_and_small(header + empties, "the data has more", str(len(header)))


# --- echoed values ----------------------------------------------------------------------------

_MEGABYTE = "n" * 1_000_000
_ECHOES: dict[str, tuple[dict[str, Any], bytes, str | None]] = {
    "input name": ({"inputs": [{**encoded(b"a")["inputs"][0], "name": _MEGABYTE}]}, b"", None),
    "datatype": ({"inputs": [{**encoded(b"a")["inputs"][0], "datatype": _MEGABYTE}]}, b"", None),
    "output name": ({**encoded(b"a"), "outputs": [{"name": _MEGABYTE}]}, b"", None),
    "binary_data_size": (
        {
            "inputs": [
                {**_binary_bytes(b"x")["inputs"][0], "parameters": {"binary_data_size": _MEGABYTE}}
            ]
        },
        b"x",
        None,
    ),
    "header length": (_binary_bytes(b"x"), b"x", "9" * 1_000_000),
}


@pytest.mark.parametrize("case", list(_ECHOES))
def test_error_messages_echo_at_most_40_characters_of_a_client_value(case: str) -> None:
    doc, binary, header = _ECHOES[case]
    message = refusal(doc, binary, header)
    echoed = "9" * 40 if header else "n" * 40
    assert len(message) < 300 and echoed in message and echoed + echoed[0] not in message


def test_model_names_and_json_containers_are_echoed_short() -> None:
    with pytest.raises(oip.ModelNotFoundError) as missing:
        oip.check_model(META, _MEGABYTE, None)
    assert len(missing.value.message) < 200
    named = refusal({"inputs": [{**encoded(b"a")["inputs"][0], "name": [_MEGABYTE]}]})
    assert "unknown input a JSON array" in named and len(named) < 200


# --- input range ------------------------------------------------------------------------------


def _bounds(channel: int) -> tuple[float, float]:
    mean, std = SPEC.mean[channel], SPEC.std[channel]
    return (-PIXEL_TOLERANCE - mean) / std, (1 + PIXEL_TOLERANCE - mean) / std


@pytest.mark.parametrize("binary", [False, True])
@pytest.mark.parametrize("channel", [0, 1, 2])
def test_fp32_values_no_normalisation_gives_are_refused_per_channel(
    channel: int, binary: bool
) -> None:
    floor, ceiling = _bounds(channel)
    for value in (floor - 0.01, ceiling + 0.01, 3e38):
        array = crops(2)
        array[1, channel, 5, 2] = value
        if binary:
            raw = array.astype("<f4").tobytes()
            tensor = {"name": oip.PREPROCESSED, "datatype": "FP32", "shape": list(array.shape)}
            message = refusal(
                {"inputs": [{**tensor, "parameters": {"binary_data_size": len(raw)}}]}, raw
            )
        else:
            message = refusal(fp32(array.reshape(-1).tolist(), list(array.shape)))
        assert f"channel {channel} holds" in message
        assert f"[{floor:.4f}, {ceiling:.4f}]" in message


def test_fp32_pixel_extremes_and_the_tolerance_are_accepted() -> None:
    pixels = np.zeros((1, 3, *SIZE))
    pixels[:, :, 0] = 1.0
    pixels[:, :, 1] = 1.0 + PIXEL_TOLERANCE / 2
    pixels[:, :, 2] = -PIXEL_TOLERANCE / 2
    array = normalised(pixels)
    got = parse(fp32(array.reshape(-1).tolist())).arrays
    assert got is not None
    np.testing.assert_array_equal(got, array)
