"""The browser tests start the service as the end-to-end tests do (``tests/e2e/server_process``)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
