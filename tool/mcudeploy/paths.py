"""Where the repository's data folders live (firmware template, boards, kernels).

The package is installed editable from the repository (``pip install -e .``), so the folders beside
``tool/`` are found relative to this file; ``MCUDEPLOY_ROOT`` overrides that for other layouts.
"""

import os
from pathlib import Path

ROOT = Path(os.environ.get("MCUDEPLOY_ROOT", Path(__file__).resolve().parents[2]))
FIRMWARE_TEMPLATE = ROOT / "firmware_template"
KERNELS = FIRMWARE_TEMPLATE / "kernels"
BOARDS = ROOT / "boards"
CACHE = Path(os.environ.get("MCUDEPLOY_CACHE", ROOT / ".cache"))
