"""Loading a spec folder: find its sources, pick the front end, build and validate.

A folder holds either county.yaml with projects/*.yaml, or one workbook 规格.xlsx; both
front ends feed the same validator (build.py).
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Union

from ..desk import decode_text
from .build import build_spec
from .model import Spec
from .problems import Location, Problems
from .yaml_source import read_yaml, yaml_bounds_problem

WORKBOOK = "规格.xlsx"


def load_spec(folder: Union[str, Path]) -> Spec:
    """Load and validate ``specs/<county>/``; raise SpecError with every problem."""
    return parse_spec(read_spec_sources(folder), folder)


def read_spec_sources(folder: Union[str, Path]) -> dict:
    """{relative path: text} of a spec folder: county.yaml and projects/*.yaml, or 规格.xlsx (bytes).

    A YAML file that is not UTF-8 is kept as bytes, for parse_spec to report."""
    folder = Path(folder)
    county_file = folder / "county.yaml"
    if not folder.is_dir():
        _missing(folder, "找不到规格文件夹。请用 --spec 指定如 specs/shengsi 的文件夹。")
    if (folder / WORKBOOK).is_file():
        if county_file.is_file():
            out = Problems()
            out.add("P007", Location(str(folder)))
            raise out.error()
        problem = workbook_bounds_problem(folder / WORKBOOK)
        if problem:
            out = Problems()
            out.add("P075", Location(shown(folder, folder / WORKBOOK)), detail=problem)
            raise out.error()
        return {WORKBOOK: (folder / WORKBOOK).read_bytes()}
    if not county_file.is_file():
        _missing(county_file, "找不到 county.yaml。每个县的规格文件夹需要一个 county.yaml（或一个 规格.xlsx）。")
    paths = [county_file]
    if (folder / "projects").is_dir():
        paths += sorted((folder / "projects").glob("*.yaml"))
    texts = {}
    for path in paths:
        problem = yaml_bounds_problem(path)          # the size, before reading a byte
        if problem:
            out = Problems()
            out.add("P075", Location(shown(folder, path), 1), detail=problem)
            raise out.error()
        try:
            data = path.read_bytes()
        except OSError as exc:
            _missing(path, f"文件无法读取（{exc.strerror or exc}）。")
        text = decode_text(data)          # UTF-8 with or without BOM, or GBK as Chinese Windows saves it
        texts[path.relative_to(folder).as_posix()] = data if text is None else text
    return texts


def _missing(path: Path, detail: str) -> None:
    out = Problems()
    out.add("P001", Location(str(path)), detail=detail)
    raise out.error()


def spec_digest(texts: dict) -> str:
    """sha256 over a spec's sources (relative paths and contents), for snapshots."""
    h = hashlib.sha256()
    for rel in sorted(texts):
        data = texts[rel] if isinstance(texts[rel], bytes) else texts[rel].encode("utf-8")
        h.update(rel.encode("utf-8") + b"\0" + str(len(data)).encode() + b"\0" + data)
    return h.hexdigest()


def parse_spec(texts: dict, folder: Union[str, Path] = "spec") -> Spec:
    """Parse and validate a spec from its sources {relative path: text or bytes} (as read_spec_sources
    gives them, or as kept in a snapshot); ``folder`` names the files in messages."""
    folder = Path(folder)
    out = Problems()
    if "county.yaml" not in texts and WORKBOOK in texts:
        from .workbook_source import read_workbook
        county, projects = read_workbook(shown(folder, folder / WORKBOOK), texts[WORKBOOK], out,
                                         str(folder / WORKBOOK))
    else:
        county, projects = _read_yaml_files(texts, folder, out)
    if county is None:
        raise out.error()
    return build_spec(county, projects, str(folder), out)


def _read_yaml_files(texts: dict, folder: Path, out: Problems) -> tuple:
    county_file = folder / "county.yaml"
    if "county.yaml" not in texts:
        _missing(county_file, "找不到 county.yaml。每个县的规格文件夹需要一个 county.yaml（或一个 规格.xlsx）。")
    county = read_yaml(shown(folder, county_file), texts["county.yaml"], out)
    project_files = sorted(rel for rel in texts if rel.startswith("projects/") and rel.endswith(".yaml")
                           and "/" not in rel[len("projects/"):])
    if not project_files:
        out.add("P005", Location(shown(folder, county_file), 1))
    projects = []
    for rel in project_files:
        doc = read_yaml(shown(folder, folder / rel), texts[rel], out)
        if doc is not None:
            projects.append((doc, str(folder / rel)))
    return county, projects


def shown(folder: Path, path: Path) -> str:
    """A file as messages name it: from the county folder's parent (``shengsi/projects/01.yaml``)."""
    try:
        return str(path.relative_to(folder.parent))
    except ValueError:
        return str(path)


MAX_WORKBOOK_MB = 20            # a county's 规格.xlsx is a few hundred KB
MAX_WORKBOOK_UNPACKED_MB = 200


def workbook_bounds_problem(path: Path) -> Union[str, None]:
    """Why 规格.xlsx is too big to open (its size, or what it unpacks to), counted before reading it."""
    import zipfile
    size = path.stat().st_size
    if size > MAX_WORKBOOK_MB * 1024 * 1024:
        return f"文件 {size / 1024 / 1024:.1f} MB，超过 {MAX_WORKBOOK_MB} MB：规格工作簿不应这么大。"
    try:
        with zipfile.ZipFile(path) as zf:
            unpacked = sum(i.file_size for i in zf.infolist())
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError):
        return None                     # the workbook reader reports it as unreadable
    if unpacked > MAX_WORKBOOK_UNPACKED_MB * 1024 * 1024:
        return f"解压后 {unpacked / 1024 / 1024:.0f} MB，超过 {MAX_WORKBOOK_UNPACKED_MB} MB：文件异常，请重新导出。"
    return None
