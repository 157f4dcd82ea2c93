"""Nothing POSIX-only: files held open by Excel/WPS, console code pages, GBK and BOM files,
the run lock across processes, and the demo's pool under spawn (how Windows starts workers)."""
import json
import os
import random
import subprocess
import sys

import pytest
from click.testing import CliRunner

from workbook_tool import demo
from workbook_tool.cli import main
from workbook_tool.consolidate import consolidate
from workbook_tool.desk import DeskError, Period
from workbook_tool.spec import SpecError, load_spec

from conftest import REPO, objects


def hold_open(monkeypatch, suffix):
    """Windows refuses to replace (or move away) a file that Excel or WPS holds open."""
    real_replace = os.replace

    def replace(src, dst):
        if str(dst).replace("\\", "/").endswith(suffix) or str(src).replace("\\", "/").endswith(suffix):
            raise PermissionError(13, "Permission denied", str(src), None, str(dst))
        return real_replace(src, dst)
    monkeypatch.setattr(os, "replace", replace)


def cli(may, *args):
    return CliRunner().invoke(main, [*args, "--root", str(may.root), "--spec", "specs/shengsi"])


def assert_names_the_file(result, name):
    assert result.exit_code == 1, result.output
    assert "程序内部错误" not in result.output and "Traceback" not in result.output
    assert "无法写入" in result.output and name in result.output and "请关闭该文件" in result.output


@pytest.mark.parametrize("held", ["templates/shengsi/2023-05/县发改局.xlsx",
                                  "templates/shengsi/2023-05/分发清单.xlsx"])
def test_generate_over_a_file_held_open_names_it(may, monkeypatch, held):
    before = (may.root / held).read_bytes()
    hold_open(monkeypatch, held)
    result = cli(may, "generate", "--period", "2023-05")
    assert_names_the_file(result, held.rsplit("/", 1)[1])
    assert (may.root / held).read_bytes() == before                     # the old file is untouched
    assert not list((may.root / "templates/shengsi/2023-05").glob(".*.tmp"))


def test_mail_over_an_eml_held_open_names_it(may, monkeypatch):
    demo._demo_addresses(may.root / "specs/shengsi/county.yaml")
    hold_open(monkeypatch, "县发改局-模板.eml")
    result = cli(may, "generate", "--period", "2023-05", "--units", "县发改局", "--mail")
    assert_names_the_file(result, "县发改局-模板.eml")


@pytest.mark.parametrize("held", ["2023-05/汇总表.xlsx", "2023-05/退回"])
def test_consolidate_over_a_master_or_feedback_held_open_names_it(may, monkeypatch, held):
    may.drop(may.filled("县发改局"), "a.xlsx")
    wb = may.filled("县经信局")
    demo.set_cell(wb, "indicators", demo.rows_of(wb, "indicators")[0][0], "actual", "约12亿")
    may.drop(wb, "b.xlsx")
    assert cli(may, "consolidate", "--period", "2023-05").exit_code == 0
    hold_open(monkeypatch, held)
    real_open = open

    def sharing_violation(file, mode="r", *args, **kw):     # Windows: Excel denies others write access
        if "+" in mode and held in str(file).replace("\\", "/"):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, mode, *args, **kw)
    monkeypatch.setattr("builtins.open", sharing_violation)
    before = (may.root / "consolidated/shengsi/2023-05/汇总结果.json").read_bytes()
    result = cli(may, "consolidate", "--period", "2023-05")
    assert_names_the_file(result, held.rsplit("/", 1)[1])
    assert (may.root / "consolidated/shengsi/2023-05/汇总结果.json").read_bytes() == before
    assert ".staging" not in result.output                              # the office's file, not ours


def test_bulletin_over_a_docx_held_open_names_it(may, monkeypatch):
    may.drop(may.filled("县发改局"), "a.xlsx")
    consolidate(*objects(may.root, "specs/shengsi", "2023-05"))
    hold_open(monkeypatch, "工作简报.docx")
    result = cli(may, "bulletin", "--quarter", "2023Q2")
    assert_names_the_file(result, "工作简报.docx")


def test_json_is_utf8_whatever_the_console_code_page(may, tmp_path):
    may.drop(may.filled("县发改局"), "a.xlsx")
    env = {**os.environ, "PYTHONIOENCODING": "cp437", "PYTHONPATH": str(REPO)}   # a code page without Chinese
    for args in (["check-spec", "--json"], ["consolidate", "--period", "2023-05", "--json", "--jobs", "1"]):
        proc = subprocess.run([sys.executable, "-m", "workbook_tool.cli", *args, "--root", str(may.root)],
                              env=env, capture_output=True, timeout=120, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")
        data = json.loads(proc.stdout.decode("utf-8"))
        assert data["county"] == "嵊泗县"
    # plain text output on such a console degrades to '?' instead of stopping
    proc = subprocess.run([sys.executable, "-m", "workbook_tool.cli", "status", "--period", "2023-05",
                           "--root", str(may.root)], env=env, capture_output=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0 and b"Traceback" not in proc.stderr


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gbk", "utf-16"])
def test_spec_and_mail_yaml_saved_by_notepad_or_wps_load(desk, encoding):
    folder = desk / "specs/shengsi"
    reference = load_spec(folder)
    for path in [folder / "county.yaml", *sorted((folder / "projects").glob("*.yaml"))]:
        path.write_bytes(path.read_text(encoding="utf-8").encode(encoding))
    assert load_spec(folder) == reference
    (folder / "mail.yaml").write_bytes("template:\n  subject: '{county}请{unit}报送'\n".encode(encoding))
    from workbook_tool.mail import settings
    assert settings(reference)["messages"]["template"]["subject"] == "{county}请{unit}报送"


def test_a_spec_in_an_unknown_encoding_gets_a_clear_message(desk):
    path = desk / "specs/shengsi/projects/03.yaml"
    path.write_bytes(b"no: 3\nname: \x81\x20\xff\xfe\n")
    with pytest.raises(SpecError) as caught:
        load_spec(desk / "specs/shengsi")
    assert [(p.code, str(p.location)) for p in caught.value.issues] == [("P002", "shengsi/projects/03.yaml:1")]
    mail = desk / "specs/shengsi/mail.yaml"
    mail.write_bytes(b"\x81\x20\xff\xfe")
    path.write_bytes((desk / "specs/shengsi/projects/02.yaml").read_bytes().replace(b"no: 2", b"no: 3"))
    from workbook_tool.mail import settings
    spec = type("S", (), {"folder": str(desk / "specs/shengsi")})()
    with pytest.raises(DeskError, match="mail.yaml.*另存为“UTF-8”"):
        settings(spec)


HOLDER = """
import sys
from pathlib import Path
from workbook_tool.consolidate import _RunLock
lock = _RunLock(Path(sys.argv[1])).__enter__()
print("held", flush=True)
sys.stdin.read()
"""


def test_a_second_run_waits_for_the_first_and_a_crash_frees_the_lock(may):
    lock = may.root / "consolidated/shengsi/.lock"
    with subprocess.Popen([sys.executable, "-c", HOLDER, str(lock)], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(REPO)}) as holder:
        try:
            assert holder.stdout.readline().strip() == b"held"
            with pytest.raises(DeskError, match="另一个汇总正在运行"):
                consolidate(*objects(may.root, "specs/shengsi", "2023-05"))
        finally:
            holder.kill()                               # dies holding the lock, as a crashed run would
            holder.wait(timeout=30)
    assert consolidate(*objects(may.root, "specs/shengsi", "2023-05"))["expected"] > 0


def test_demo_units_fill_in_a_spawned_pool(may, monkeypatch):
    import multiprocessing
    monkeypatch.setattr(demo, "_pool_context", lambda: multiprocessing.get_context("spawn"))
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    story = demo.simulate_month(may.root, may.spec, Period(2023, 5), random.Random(1), mistakes=True)
    assert story["zip"] and story["eml"] and story["twice"]
    assert set(story["mistakes"].values()) >= {"text", "fullwidth", "nodate", "closed-nodate"}
    summary = consolidate(*objects(may.root, "specs/shengsi", "2023-05"))
    assert len(summary["rejected"]) == 3 and len(summary["missing"]) == 1
