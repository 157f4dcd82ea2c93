"""The Windows kit, run with the real Windows CPython and win_amd64 wheels under Wine.

Following ../shared/windows/README.md: the kit is built from registry artefacts, unzipped under
a path with Chinese characters and spaces, and three Wine gaps (not Windows behaviour) are
bridged in the test's copy only — a bcryptprimitives.dll shim beside python.exe, a
sitecustomize that hides _winapi.CopyFile2, and output through pipes. The office's steps run
through the kit's own .cmd files; the master must equal a Linux run's on a copy of the desk.
"""
import datetime as dt
import json
import os
import random
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import pytest

from workbook_tool import demo
from workbook_tool.consolidate import consolidate
from workbook_tool.desk import Period

from conftest import REPO, objects

SHIM = REPO.parent / "shared" / "windows" / "bcryptprimitives.c"
if not SHIM.is_file():
    SHIM = Path("/work/shared/windows/bcryptprimitives.c")


def _find(*names):
    for name in names:
        found = shutil.which(name) or (name if os.path.isfile(name) else None)
        if found:
            return found
    return None


WINE = _find("wine64", "wine", "/usr/lib/wine/wine64")
WINESERVER = _find("wineserver", "/usr/lib/wine/wineserver64", "/usr/lib/wine/wineserver")
MINGW = _find("x86_64-w64-mingw32-gcc")

pytestmark = [
    pytest.mark.windows, pytest.mark.slow,
    pytest.mark.skipif(not (WINE and MINGW), reason="wine64 or x86_64-w64-mingw32-gcc is not installed "
                       "(CI installs them: apt-get install wine64 gcc-mingw-w64-x86-64)"),
]

SITECUSTOMIZE = """# Wine 8 lacks CopyFile2 (Windows has it): let shutil fall back to its portable copy. Test copy only.
import _winapi
if hasattr(_winapi, "CopyFile2"):
    del _winapi.CopyFile2
"""


@pytest.fixture(scope="session")
def kit_zip(tmp_path_factory):
    """The kit, built once per session (downloads cached in packaging/windows/cache/)."""
    out = tmp_path_factory.mktemp("kit")
    proc = subprocess.run([sys.executable, str(REPO / "packaging/windows/build_kit.py"), "--out", str(out)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out / "workbook-tool-windows-x64.zip"


@pytest.fixture(scope="session")
def wine_env(tmp_path_factory):
    prefix = tmp_path_factory.mktemp("wineprefix")
    env = {**os.environ, "WINEPREFIX": str(prefix), "WINEDEBUG": "-all", "WINEDLLOVERRIDES": "mscoree,mshtml="}
    for name in ("PYTHONPATH", "PYTHONHOME", "WORKBOOK_TOOL_SECRET", "DISPLAY"):
        env.pop(name, None)
    yield env
    if WINESERVER:
        subprocess.run([WINESERVER, "-k"], env=env, capture_output=True, timeout=60)


@pytest.fixture(scope="session")
def kit(kit_zip, tmp_path_factory):
    """The kit unzipped under a path with Chinese characters and spaces, Wine gaps bridged."""
    base = tmp_path_factory.mktemp("unzip") / "县 总专班 办公室"
    base.mkdir()
    with zipfile.ZipFile(kit_zip) as zf:
        zf.extractall(base)
    root = base / "workbook-tool"
    python = root / "python"
    subprocess.run([MINGW, "-shared", "-O2", "-o", str(python / "bcryptprimitives.dll"), str(SHIM),
                    "-ladvapi32"], check=True, capture_output=True, timeout=120)
    (python / "winegaps").mkdir()
    (python / "winegaps" / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
    pth = python / "python313._pth"
    pth.write_bytes(pth.read_bytes().replace(b"site-packages\r\n", b"site-packages\r\nwinegaps\r\n"))
    return root


def run(kit, env, args, stdin="", utf8=True):
    """Run a .cmd of the kit in Wine's cmd.exe; stdin and stdout are pipes (Wine gap 3)."""
    env = dict(env)
    if utf8:
        env["PYTHONIOENCODING"] = "utf-8"       # readable text through the pipe; --json needs none
    proc = subprocess.run([WINE, "cmd", "/c", *args], cwd=kit, env=env, input=stdin.encode("utf-8"),
                          capture_output=True, timeout=600)
    out = proc.stdout.decode("utf-8", "replace") + proc.stderr.decode("utf-8", "replace")
    assert "Traceback" not in out and "程序内部错误" not in out, out
    return proc.returncode, proc.stdout, out


def fill_returns(desk: Path):
    """Units fill their templates (on Linux, with openpyxl, as the demo does); one makes a mistake."""
    rng = random.Random(13)
    period = Period(2023, 5)
    for i, unit in enumerate(["县发改局", "县经信局", "县教育局", "县财政局", "菜园镇"]):
        wb = demo.open_template(desk / "templates/shengsi/2023-05" / f"{unit}.xlsx")
        demo.fill_correctly(wb, period, rng)
        if unit == "县经信局":
            demo.set_cell(wb, "indicators", demo.rows_of(wb, "indicators")[0][0], "actual", "约12亿")
        dest = desk / "inbox" / "五月" / f"{i:02d} 报表.xlsx"
        dest.parent.mkdir(parents=True, exist_ok=True)
        wb.save(dest)
        demo.set_received(dest, dt.datetime(2023, 6, 3 + i, 9, 30))


def sheets(path):
    wb = openpyxl.load_workbook(path)
    return {ws.title: [list(row) for row in ws.iter_rows(values_only=True)] for ws in wb.worksheets}


def test_the_kit_runs_the_monthly_cycle_under_windows_cpython(kit, wine_env, tmp_path):
    assert not (kit / "python" / "Lib").exists()                    # nothing installed: the kit as unzipped
    code, _, out = run(kit, wine_env, ["workbook-tool.cmd", "init", "shengsi"])
    assert code == 0 and "已建立办公桌" in out
    code, _, out = run(kit, wine_env, ["生成模板.cmd"], stdin="2023-05\r\n\r\n")    # period, then pause
    assert code == 0 and "已生成 46 个单位的模板" in out
    assert len(list((kit / "templates/shengsi/2023-05").glob("*.xlsx"))) == 47       # 46 units + 分发清单

    fill_returns(kit)
    linux = tmp_path / "linux-desk"
    shutil.copytree(kit, linux, ignore=shutil.ignore_patterns("python", "*.cmd"))

    code, stdout, out = run(kit, wine_env, ["workbook-tool.cmd", "consolidate", "--period", "2023-05",
                                            "--jobs", "2", "--json"], utf8=False)
    assert code == 0, out
    summary = json.loads(stdout.decode("utf-8"))                  # UTF-8 whatever Wine's code page
    assert summary["rejected"] == ["县经信局"] and len(summary["accepted"]) == 4

    code, _, out = run(kit, wine_env, ["查看报送情况.cmd"], stdin="2023-05\r\n\r\n")
    assert code == 0 and "需退回  县经信局" in out and "可采用  县发改局" in out
    code, _, out = run(kit, wine_env, ["workbook-tool.cmd", "bulletin", "--quarter", "2023Q2"])
    assert code == 0 and "工作简报" in out
    assert (kit / "consolidated/shengsi/2023Q2/工作简报.docx").is_file()
    code, _, out = run(kit, wine_env, ["workbook-tool.cmd", "consolidate", "--period", "2023-13"])
    assert code == 2 and "13" in out and "不存在" in out          # a usage error's status passes through the .cmd

    on_linux = consolidate(*objects(linux, None, "2023-05"), jobs=1)
    assert on_linux["accepted"] == summary["accepted"] and on_linux["files"] == summary["files"]
    windows_master = sheets(kit / "consolidated/shengsi/2023-05/汇总表.xlsx")
    linux_master = sheets(Path(on_linux["master"]))
    assert list(windows_master) == list(linux_master)
    for name in linux_master:
        assert windows_master[name] == linux_master[name], name
