"""Type checking is part of the test suite: `mypy workbook_tool` must be clean.

mypy's settings live in setup.cfg ([mypy]); CI runs the README's pytest command, so this
test is what type-checks the package there.
"""
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None,
                    reason="mypy is not installed (pip install -e '.[test]' installs it)")
def test_mypy_is_clean(tmp_path):
    # A fresh cache in tmp_path keeps the checkout clean and the result independent of old runs.
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "mypy-cache"), "workbook_tool"],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    output = run.stdout + run.stderr
    assert run.returncode == 0, f"mypy workbook_tool found problems:\n{output}"
    assert "Success" in run.stdout, output
