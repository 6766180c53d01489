"""Refresh the golden outputs: `python tests/emit/refresh_golden.py` (from the repository root).

Writes `tests/golden/<fixture>/` for every convertible fixture exactly as
`reactorc convert fixtures/<fixture>/pipeline.py -o tests/golden/<fixture> --force` would.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from emit_helpers import GOLDEN, convertible, golden_files


def main() -> int:
    names = []
    for fx in convertible():
        files = golden_files(fx)
        folder = GOLDEN / fx.name
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        for name, text in files.items():
            (folder / name).write_text(text, encoding="utf-8", newline="\n")
        names.append(fx.name)
    for stale in sorted(p for p in GOLDEN.iterdir() if p.is_dir() and p.name not in names):
        shutil.rmtree(stale)
    print(f"refreshed {len(names)} golden outputs in {GOLDEN}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
