"""The package as users get it: a wheel installed in a fresh venv runs init and demo anywhere."""
import os
import shutil
import subprocess
import sys
import venv

import pytest

from conftest import REPO

SOURCES = ("workbook_tool", "setup.cfg", "pyproject.toml", "README.md")


def copy_sources(dest):
    """The tracked sources only (no build/, egg-info or caches), so building never touches the tree."""
    for name in SOURCES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(src, dest / name)
    return dest


def build_wheel(out_dir, work):
    src = copy_sources(work / "src")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out_dir), str(src)],
                   check=True, capture_output=True, timeout=300)
    wheels = sorted(out_dir.glob("workbook_tool-*.whl"))
    assert len(wheels) == 1
    return wheels[0]


def run(cmd, cwd, **kw):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "WORKBOOK_TOOL_SECRET")}
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True,
                          encoding="utf-8", timeout=600, **kw)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "Traceback" not in output and "程序内部错误" not in output, output
    return output


@pytest.mark.slow
def test_wheel_in_a_fresh_venv_runs_init_and_demo_outside_the_tree(tmp_path):
    wheel = build_wheel(tmp_path / "dist", tmp_path)
    import zipfile
    names = zipfile.ZipFile(wheel).namelist()
    assert "workbook_tool/examples/shengsi/county.yaml" in names
    assert "workbook_tool/examples/yunhe/projects/10.yaml" in names
    # the dependencies come from this interpreter's site-packages (no network); the package from the wheel
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=True).create(env_dir)
    bindir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / ("python.exe" if os.name == "nt" else "python")
    run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--ignore-installed", wheel], tmp_path)
    run([python, "-m", "pip", "check"], tmp_path)                # every declared dependency is satisfied
    elsewhere = tmp_path / "某个 文件夹"
    elsewhere.mkdir()
    where = run([python, "-c", "import workbook_tool; print(workbook_tool.__file__)"], elsewhere)
    assert str(env_dir) in where                                 # the wheel's copy, not the source tree
    tool = bindir / ("workbook-tool.exe" if os.name == "nt" else "workbook-tool")
    out = run([tool, "init", "yunhe", "--root", "X"], elsewhere)
    assert "已建立办公桌" in out
    assert (elsewhere / "X/specs/yunhe/county.yaml").is_file()
    assert len(list((elsewhere / "X/specs/yunhe/projects").glob("*.yaml"))) == 10
    out = run([tool, "demo", "Y"], elsewhere)
    assert "演示完成" in out
    assert (elsewhere / "Y/consolidated/shengsi/2023-06/汇总表.xlsx").is_file()


def load_build_kit():
    import importlib.util
    spec = importlib.util.spec_from_file_location("build_kit", REPO / "packaging/windows/build_kit.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_kit_command_files_suit_cmd_exe_and_are_documented():
    kit = load_build_kit()
    cli = kit.cli_cmd()
    assert b"%*" in cli and b"-m workbook_tool.cli" in cli and cli.isascii()     # keeps the caller's code page
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert kit.KIT_NAME in readme and ".workbook-tool-secret" in readme
    for name, (title, explain, command) in kit.STEPS.items():
        data = kit.step_cmd(title, explain, command, ask_period=command is not None)
        assert not data.startswith(b"\xef\xbb\xbf")                 # a BOM would be read as a command
        assert b"\n" not in data.replace(b"\r\n", b"")               # CRLF only
        lines = data.decode("utf-8").split("\r\n")
        first_chinese = next(i for i, line in enumerate(lines) if not line.isascii())
        assert lines.index("chcp 65001 >nul") < first_chinese     # UTF-8 code page before any Chinese text
        assert 'cd /d "%~dp0"' in lines and lines[-2] == "pause"   # the desk beside it; the window stays
        assert "set /p" in data.decode("utf-8")
        assert f"`{name}`" in readme
    pth = kit.pth_file().decode("ascii").split("\r\n")
    assert pth[:3] == ["python313.zip", ".", "site-packages"] and "import site" in pth
