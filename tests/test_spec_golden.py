"""`check-spec --json` of the seed counties is pinned byte for byte.

The golden files were written before spec.py became declared field tables; a change to them
must be deliberate. To regenerate after an intended change:

    python3 -m workbook_tool.cli check-spec --json --spec workbook_tool/examples/shengsi > tests/golden/shengsi.spec.json
    python3 -m workbook_tool.cli check-spec --json --spec workbook_tool/examples/yunhe > tests/golden/yunhe.spec.json
"""
import pytest
from click.testing import CliRunner

from workbook_tool.cli import main
from workbook_tool.workflow import EXAMPLES

from conftest import REPO


@pytest.mark.parametrize("county", ["shengsi", "yunhe"])
def test_check_spec_json_matches_the_golden_file(county):
    result = CliRunner().invoke(main, ["check-spec", "--json", "--spec", str(EXAMPLES / county)])
    assert result.exit_code == 0, result.output
    golden = (REPO / "tests" / "golden" / f"{county}.spec.json").read_bytes()
    assert result.stdout_bytes == golden
