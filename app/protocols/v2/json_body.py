"""Reading a request's JSON document without a Python object per value.

``json.loads`` builds an object for every number of a tensor's ``data`` (and numpy then copies
them): an 8 MB body of ``[0,0,...]`` cost hundreds of MB and seconds, nested arrays more. simdjson
parses into a C++ tape bounded by the body's size, and the request is read from that tape through
proxies: the fields the protocol needs become Python values, a tensor's numbers are copied out in
C++ (``Array.as_buffer``), and nothing else is ever materialised. The tape lives as long as the
last proxy into it, so no proxy outlives the parse.
"""

import numpy as np
import simdjson

from app.protocols.v2.errors import ProtocolError

BINARY_HEADER = "Inference-Header-Content-Length"
# A valid request nests 7 deep: {"inputs": [{"data": [[[[0.5]]]]}]}; one level to spare.
MAX_DEPTH = 8

_BRACES_AS_BRACKETS = bytes.maketrans(b"{}", b"[]")
_NOT_STRUCTURE = bytes(sorted(set(range(256)) - set(b'[]{}"')))


def read_document(text: bytes) -> simdjson.Object:
    """The request's JSON object, refused (400) unless it is valid and at most MAX_DEPTH deep."""
    try:
        # A fresh parser per request: a parser's next parse invalidates the proxies into its last
        # document, and parses run in several threads at once.
        doc = simdjson.Parser().parse(text)
    except (ValueError, RuntimeError):  # RuntimeError: deeper than simdjson's own 1024
        raise ProtocolError(
            f"the request (or its JSON header, with {BINARY_HEADER}) is not valid JSON"
        ) from None
    if not isinstance(doc, simdjson.Object):
        raise ProtocolError("the request must be a JSON object")
    if _deeper_than(text, MAX_DEPTH):
        raise ProtocolError(
            f"the request nests arrays and objects more than {MAX_DEPTH} deep; a tensor's "
            "'data' is flat or nested as its shape"
        )
    return doc


def _deeper_than(text: bytes, limit: int) -> bool:
    """Whether the valid JSON ``text`` nests arrays and objects more than ``limit`` deep.

    Done on the bytes in a few C-speed passes, so that what the request does not need (an
    unknown key's value) costs no Python object either. JSON has backslashes only inside strings,
    so dropping escaped backslashes, then escaped quotes, leaves quotes that delimit strings.
    Kept are those quotes and the brackets; what remains once the strings' brackets are gone is
    the structure, from which each ``replace`` pass removes the innermost level.
    """
    if b"\\" in text:
        text = text.replace(b"\\\\", b"").replace(b'\\"', b"")
    # Strings without brackets are now '""': gone, with no quote left, if no string has any.
    brackets = _structure(text).replace(b'""', b"")
    if b'"' in brackets:
        brackets = _outside_strings(_structure(text))
    for _ in range(limit):
        brackets = brackets.replace(b"[]", b"")
    return bool(brackets)


def _structure(text: bytes) -> bytes:
    """The quotes and brackets of ``text``, braces as brackets."""
    return text.translate(_BRACES_AS_BRACKETS, _NOT_STRUCTURE)


def _outside_strings(marks: bytes) -> bytes:
    """Quotes and brackets without the strings: what is outside an even number of quotes."""
    array = np.frombuffer(marks, dtype=np.uint8)
    quotes = array == ord('"')
    in_string = np.cumsum(quotes, dtype=np.uint8)  # the parity survives the uint8 wrap-around
    in_string &= 1
    in_string |= quotes
    return array[in_string == 0].tobytes()
