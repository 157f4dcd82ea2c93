"""Shared fixtures: a desk with a county's spec, templates generated as the office would."""
import datetime as dt
import random
import shutil
from pathlib import Path

import pytest

from workbook_tool import demo
from workbook_tool.desk import Period
from workbook_tool.workflow import generate_templates, init_desk

REPO = Path(__file__).resolve().parent.parent
ON_TIME = dt.datetime(2023, 6, 3, 9, 30)


def objects(root, spec_path, period):
    """(Desk, Spec, Period) as the CLI builds them from --root, --spec and --period."""
    from workbook_tool.desk import Desk
    from workbook_tool.spec import load_spec
    desk = Desk(root)
    return desk, load_spec(desk.spec_folder(spec_path)), period if isinstance(period, Period) else Period.parse(period)


@pytest.fixture(autouse=True)
def _no_env_key(monkeypatch):
    monkeypatch.delenv("WORKBOOK_TOOL_SECRET", raising=False)


@pytest.fixture
def desk(tmp_path):
    root = tmp_path / "desk"
    root.mkdir()
    init_desk(root, "shengsi")
    return root


@pytest.fixture
def yunhe_desk(tmp_path):
    root = tmp_path / "desk-yunhe"
    root.mkdir()
    init_desk(root, "yunhe")
    return root


@pytest.fixture(scope="session")
def _may_desk(tmp_path_factory):
    root = tmp_path_factory.mktemp("may") / "desk"
    root.mkdir()
    init_desk(root, "shengsi")
    generate_templates(*objects(root, "specs/shengsi", "2023-05"))
    return root


@pytest.fixture
def may(_may_desk, tmp_path):
    """A fresh desk with 嵊泗's 2023-05 templates for all units (generated once per session)."""
    from workbook_tool.spec import load_spec
    root = tmp_path / "desk"
    shutil.copytree(_may_desk, root)
    spec = load_spec(root / "specs" / "shengsi")
    return Office(root, spec, Period(2023, 5), root / "templates" / "shengsi" / "2023-05")


class Office:
    """A small helper that fills templates as units do and drops them into the inbox."""

    def __init__(self, root, spec, period, out_dir):
        self.root, self.spec, self.period, self.out_dir = root, spec, period, out_dir
        self.rng = random.Random(7)

    def template(self, unit):
        return self.out_dir / f"{unit}.xlsx"

    def filled(self, unit, period=None):
        wb = demo.open_template(self.template(unit))
        demo.fill_correctly(wb, period or self.period, self.rng)
        return wb

    def drop(self, wb, name, when=ON_TIME):
        path = self.root / "inbox" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        wb.save(path)
        demo.set_received(path, when)
        return path

    def drop_file(self, src, name, when=ON_TIME):
        path = self.root / "inbox" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, path)
        demo.set_received(path, when)
        return path


@pytest.fixture
def period():
    return Period(2023, 5)


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite tests/golden/ from the current outputs (tests/test_golden.py)")
