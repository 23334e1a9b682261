"""Resident memory of refusing an 8 MB v2 body of tiny values (issue 24), measured in a fresh
process: simdjson's C++ tape is invisible to tracemalloc (``test_bounds.py`` measures the rest)."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

FP32_HEAD = '{"inputs":[{"name":"preprocessed_image","datatype":"FP32","shape":[1,3,8,4],"data":['

_MEASURE = textwrap.dedent(
    """
    import sys
    from app.protocols.v2 import messages as oip
    from gennet.preprocess import PreprocessSpec

    def kib(field):
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))

    spec = PreprocessSpec((8, 4), (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    head = sys.argv[1].encode()
    item = sys.argv[2].encode()
    body = head + b",".join([item] * ((8 * 1024 * 1024 - len(head) - 4) // (len(item) + 1)))
    body += b"]}]}"
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # the peak (VmHWM) starts again from the current resident size
    before = kib("VmRSS")
    try:
        oip.parse_infer_request(body, None, spec, 64)
    except oip.ProtocolError:
        pass
    print(kib("VmHWM") - before)
    """
)


@pytest.mark.skipif(not os.access("/proc/self/clear_refs", os.W_OK), reason="needs Linux /proc")
@pytest.mark.parametrize("item", ["0", "[0.5]"], ids=["4M zeros", "1.3M nested"])
def test_an_8_mb_body_of_tiny_values_is_refused_within_150_mb_of_resident_memory(
    item: str,
) -> None:
    """json.loads + np.asarray: 79 MB for the zeros (small ints are shared), over 150 MB nested."""
    run = subprocess.run(
        [sys.executable, "-c", _MEASURE, FP32_HEAD, item],
        cwd=Path(__file__).parents[2],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert int(run.stdout) < 150 * 1024, run.stdout
