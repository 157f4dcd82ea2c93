"""Write accepted plan values into a spec's YAML files, surgically: comments, order and layout kept.

A change is data — (object kind, id, key, year, old, new) — so that another backend (the
规格.xlsx spec workbook) can apply the same list. Here each change becomes a text edit of the
file that holds the object: a value by year is added to (or replaced in) the key's mapping; a
single value that meant "every year" becomes ``{first plan year: old, year: new}`` so earlier
years keep what they had; a new key or a new list item is inserted after the item's last line.
Nothing else in the file is touched. The edited sources are parsed again and every change is
verified before anything is written.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence, Union

import yaml

from .desk import DeskError, write_file
from .spec import Spec, SpecError, parse_spec, read_spec_sources

LISTS = {"indicator": "indicators", "task": "tasks", "major_project": "major_projects"}
KIND_NAMES = {"indicator": "指标", "task": "重点任务", "major_project": "重大项目"}
KEY_NAMES = {"annual": "年度目标", "plan": "月度计划", "milestone": "节点目标", "due": "计划完成时间",
             "annual_plan": "年度计划投资", "": "新增"}
FIELD_ORDER = ("id", "name", "content", "owner", "units", "total_investment", "annual_plan", "planned_start",
               "milestone", "due", "recurring")


@dataclass(frozen=True)
class Change:
    """One value the plan adds or changes. ``key`` is empty for a new item (``new``: its fields)."""

    kind: str                  # indicator | task | major_project
    id: str
    key: str                   # annual | plan | milestone | due | annual_plan | "" (a new item)
    year: int
    old: Any
    new: Any                   # the value; for a new item, {field: value}
    project: int = 0           # the project (工程) the item belongs to
    unit: str = ""             # the lead unit whose plan gave it
    name: str = field(default="", compare=False)

    def describe(self) -> str:
        what = f"{KIND_NAMES[self.kind]} {self.id}（{self.name}）"
        if not self.key:
            return f"新增{what}：" + "；".join(f"{k}={shown(v)}" for k, v in self.new.items() if k != "id")
        return f"{what} {self.year} 年{KEY_NAMES[self.key]}：{shown(self.old)} → {shown(self.new)}"


def shown(value: object) -> str:
    if value is None or value == "" or value == () or value == {}:
        return "空"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {shown(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (tuple, list)) and value and isinstance(value[0], tuple):
        return shown(dict(value))
    if isinstance(value, (list, tuple)):
        return "、".join(str(v) for v in value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


class EditError(DeskError):
    """The YAML could not be edited safely; nothing was written."""


# -- rendering values ------------------------------------------------------------------------

def scalar(value: object, flow: bool = False) -> str:
    """A YAML scalar that reads back as ``value`` (plain when safe, else double-quoted)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value)
    probe = ("{k: " + text + "}") if flow else ("k: " + text)
    try:
        if text and "\n" not in text and text == text.strip() and yaml.safe_load(probe) == {"k": text}:
            return text
    except yaml.YAMLError:
        pass
    return json.dumps(text, ensure_ascii=False)


def render(value: object, flow: bool = True) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {render(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(render(v) for v in value) + "]"
    return scalar(value, flow=flow)


# -- locating nodes -----------------------------------------------------------------------------

def _get(node, key):
    if not isinstance(node, yaml.MappingNode):
        return None, None
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            return k, v
    return None, None


def _is_null(node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null")


class _File:
    """One YAML source being edited: its text, node tree, and pending edits."""

    def __init__(self, rel: str, text: str):
        self.rel, self.text = rel, text
        self.newline = "\r\n" if "\r\n" in text else "\n"
        self.root = yaml.compose(text, Loader=yaml.SafeLoader)
        self.starts = [0]
        for i, ch in enumerate(text):
            if ch == "\n":
                self.starts.append(i + 1)
        self.edits: list[tuple[int, int, int, str]] = []        # (start, end, seq, text)

    def at(self, mark: yaml.Mark) -> int:
        return self.starts[mark.line] + mark.column

    def line_end(self, mark: yaml.Mark) -> int:
        """Offset just after the line on which ``mark`` stands (a mark at column 0: that offset)."""
        if mark.column == 0:
            return self.at(mark)
        nxt = mark.line + 1
        return self.starts[nxt] if nxt < len(self.starts) else len(self.text)

    def edit(self, start: int, end: int, text: str) -> None:
        self.edits.append((start, end, len(self.edits), text))

    def replace(self, start: int, end: int, text: str) -> None:
        """Replace a value on its line; a comment after it keeps its column where there is room."""
        grow = len(text) - (end - start)
        spaces = 0
        while end + spaces < len(self.text) and self.text[end + spaces] == " ":
            spaces += 1
        if grow > 0 and "\n" not in text and self.text[end + spaces:end + spaces + 1] == "#" and spaces > 1:
            end += min(grow, spaces - 1)
        self.edit(start, end, text)

    def result(self) -> str:
        text = self.text
        for start, end, _seq, new in sorted(self.edits, reverse=True):
            text = text[:start] + new + text[end:]
        return text

    def end_of(self, node: yaml.Node) -> int:
        """Where to insert lines after a block node (its last value's line)."""
        last = node
        while isinstance(last, (yaml.MappingNode, yaml.SequenceNode)) and last.value and not last.flow_style:
            last = last.value[-1][1] if isinstance(last, yaml.MappingNode) else last.value[-1]
        pos = self.line_end(last.end_mark)
        if pos == len(self.text) and not self.text.endswith("\n"):
            self.edit(pos, pos, self.newline)
        return pos

    def lines(self, indent: int, lines: Iterable[str]) -> str:
        return "".join(" " * indent + line + self.newline for line in lines)


def _year_map(node) -> bool:
    return isinstance(node, yaml.MappingNode) and node.value and all(
        isinstance(k, yaml.ScalarNode) and k.value.isdigit() and int(k.value) >= 2000 for k, _ in node.value)


def _set_by_year(f: _File, item, key, year, new, old_single, plan_years):
    """Give ``key`` of ``item`` the value ``new`` for ``year``, keeping every other year's value."""
    knode, vnode = _get(item, key)
    y0, y1 = plan_years
    if knode is None:
        pos = f.end_of(item)
        f.edit(pos, pos, f.lines(item.start_mark.column, [f"{key}: {render({year: new})}"]))
        return
    if _year_map(vnode):
        if vnode.flow_style:
            values = {int(k.value): f.text[f.at(v.start_mark):f.at(v.end_mark)] for k, v in vnode.value}
            values[year] = render(new)
            body = ", ".join(f"{y}: {values[y]}" for y in sorted(values))
            f.replace(f.at(vnode.start_mark), f.at(vnode.end_mark), "{" + body + "}")
            return
        for k, v in vnode.value:
            if int(k.value) == year:
                end = f.at(v.end_mark)
                tail = f.newline if f.text[f.at(v.start_mark):end].endswith("\n") else ""
                f.replace(f.at(v.start_mark), end, render(new) + tail)
                return
        later = [k for k, _ in vnode.value if int(k.value) > year]
        line = f.lines(vnode.start_mark.column, [f"{year}: {render(new)}"])
        if later:
            pos = f.starts[later[0].start_mark.line]
        else:
            pos = f.end_of(vnode)
        f.edit(pos, pos, line)
        return
    # a single value (or a plan without years) meant every year: keep it for the other years
    if _is_null(vnode) or (isinstance(vnode, yaml.ScalarNode) and vnode.value == ""):
        values = {year: new}
    elif key == "plan":
        values = {y: old_single for y in range(y0, y1 + 1)}
        values[year] = new
    elif year > y0:
        values = {y0: old_single, year: new}
    else:
        values = {year: new}
    start, end = f.at(vnode.start_mark), f.at(vnode.end_mark)
    tail = f.newline if f.text[start:end].endswith("\n") else ""
    if _is_null(vnode) and start == end:
        start = end = f.at(knode.end_mark) + 1       # `key:` with nothing after the colon
        text = " " + render(values) + tail
    else:
        text = render(values) + tail
    f.replace(start, end, text)


def _item_lines(fields: dict) -> list:
    out = []
    for k in FIELD_ORDER:
        if k in fields and fields[k] not in (None, "", (), []):
            v = fields[k]
            out.append(f"{k}: " + (json.dumps(v, ensure_ascii=False) if k == "id" else render(v, flow=False)
                                  if not isinstance(v, (dict, list, tuple)) else render(v)))
    return out


def _append_item(f: _File, list_key: str, fields: dict):
    knode, vnode = _get(f.root, list_key)
    body = _item_lines(fields)
    if isinstance(vnode, yaml.SequenceNode) and vnode.value and not vnode.flow_style:
        first = vnode.value[0]
        col = first.start_mark.column
        prefix = f.text[f.starts[first.start_mark.line]:f.at(first.start_mark)]
        dash = prefix.rfind("-")
        dash = dash if dash >= 0 else max(0, col - 2)
        pos = f.end_of(vnode)
        f.edit(pos, pos, " " * dash + "- " + body[0] + f.newline + f.lines(col, body[1:]))
        return
    block = "  - " + body[0] + f.newline + f.lines(4, body[1:])
    if knode is None:
        pos = len(f.text)
        lead = "" if f.text.endswith("\n") or not f.text else f.newline
        f.edit(pos, pos, f"{lead}{list_key}:{f.newline}{block}")
        return
    if isinstance(vnode, yaml.SequenceNode) and vnode.value:
        raise EditError(f"{f.rel}：{list_key} 写成了一行的列表，无法自动添加。请改成每项一行的写法后重试。")
    start, end = f.at(vnode.start_mark), f.at(vnode.end_mark)
    if start == end:                          # `tasks:` with nothing after it
        start = end = f.at(knode.end_mark) + 1
    pos = f.line_end(vnode.end_mark if end > start else knode.end_mark)
    f.edit(start, end, "")
    f.edit(pos, pos, block)


# -- the YAML backend -----------------------------------------------------------------------------

def _index(files: dict) -> tuple:
    """{(kind, id): (file, item node)} and {project no: file} over the project files."""
    items, projects = {}, {}
    for f in files.values():
        if not isinstance(f.root, yaml.MappingNode):
            continue
        _, no = _get(f.root, "no")
        if isinstance(no, yaml.ScalarNode) and no.value.isdigit():
            projects[int(no.value)] = f
        for kind, list_key in LISTS.items():
            _, seq = _get(f.root, list_key)
            if isinstance(seq, yaml.SequenceNode):
                for item in seq.value:
                    _, idn = _get(item, "id")
                    if isinstance(idn, yaml.ScalarNode):
                        items[(kind, idn.value)] = (f, item)
    return items, projects


def edited_sources(texts: dict[str, Any], changes: Iterable[Change], spec: Spec) -> dict[str, str]:
    """The spec's sources {relative path: text} with ``changes`` applied (only edited files)."""
    files = {rel: _File(rel, text) for rel, text in texts.items()
             if rel.startswith("projects/") and rel.endswith(".yaml") and isinstance(text, str)}
    items, projects = _index(files)
    touched: set[str] = set()
    for c in changes:
        if not c.key:
            f = projects.get(c.project)
            if f is None:
                raise EditError(f"找不到第 {c.project} 项工程的规格文件，无法新增{KIND_NAMES[c.kind]}。")
            _append_item(f, LISTS[c.kind], c.new)
        else:
            found = items.get((c.kind, c.id))
            if found is None:
                raise EditError(f"规格中找不到{KIND_NAMES[c.kind]} {c.id}，无法写入。")
            f, item = found
            _set_by_year(f, item, c.key, c.year, c.new, _single(spec, c), spec.plan_years)
        touched.add(f.rel)
    return {rel: files[rel].result() for rel in sorted(touched)}


def _single(spec, c):
    """The item's value for every year when the spec gives one value (what the years keep)."""
    for p in spec.projects:
        for obj in (*p.indicators, *p.tasks, *p.major_projects):
            if obj.id == c.id:
                if c.key == "plan":
                    return {m: v for m, v in obj.plan}
                value = getattr(obj, c.key)
                return value
    return None


def verify(spec_after: Spec, changes: Iterable[Change]) -> list[str]:
    """Every change reads back from the edited spec as intended; → list of problems."""
    found: dict[tuple[str, str], Any] = {}
    for p in spec_after.projects:
        for kind, objs in (("indicator", p.indicators), ("task", p.tasks), ("major_project", p.major_projects)):
            for obj in objs:
                found[(kind, obj.id)] = obj
    problems = []
    for c in changes:
        obj = found.get((c.kind, c.id))
        if obj is None:
            problems.append(f"{c.id} 写入后读不到")
            continue
        if not c.key:
            continue
        got = {"annual": lambda: obj.annual_for(c.year),
               "plan": lambda: dict(obj.plan_for(c.year)),
               "milestone": lambda: obj.milestone_for(c.year),
               "due": lambda: obj.due_for(c.year),
               "annual_plan": lambda: obj.annual_plan_for(c.year)}[c.key]()
        want = {m: float(v) for m, v in c.new.items()} if c.key == "plan" else c.new
        if isinstance(want, (int, float)) and isinstance(got, (int, float)):
            ok = abs(float(want) - float(got)) < 1e-9
        else:
            ok = got == want
        if not ok:
            problems.append(f"{c.id} {c.key} {c.year}：应为 {shown(want)}，读回 {shown(got)}")
    return problems


def apply_to_yaml(folder: Union[str, Path], spec: Spec, changes: Sequence[Change]) -> list[str]:
    """Edit the YAML files of ``folder``; → the relative paths written. All or nothing."""
    folder = Path(folder)
    texts = read_spec_sources(folder)
    edited = edited_sources(texts, changes, spec)
    after = {**texts, **edited}
    try:
        spec_after = parse_spec(after, folder)
    except SpecError as exc:
        raise EditError("写入计划后规格无法通过检查，未做任何修改：" + "；".join(exc.problems[:5])) from None
    problems = verify(spec_after, changes)
    if problems:
        raise EditError("写入计划后核对不符，未做任何修改：" + "；".join(problems[:5]))
    for rel, text in edited.items():
        path = folder / rel
        write_file(path, _encode(text, path.read_bytes()))
    return sorted(edited)


def _encode(text: str, original: bytes) -> bytes:
    """Keep the file's own encoding: UTF-8 (with its BOM if it had one), else GB18030 as saved by Windows."""
    if original.startswith(b"\xef\xbb\xbf"):
        return b"\xef\xbb\xbf" + text.encode("utf-8")
    try:
        original.decode("utf-8")
    except UnicodeDecodeError:
        return text.encode("gb18030")
    return text.encode("utf-8")


WORKBOOK_NAME = "规格.xlsx"


def apply_changes(folder: Union[str, Path], spec: Spec, changes: Sequence[Change]) -> list[str]:
    """Write ``changes`` into the spec folder, YAML or 规格.xlsx, whichever it holds."""
    folder = Path(folder)
    if not (folder / "county.yaml").is_file() and (folder / WORKBOOK_NAME).is_file():
        backend = _workbook_backend()
        if backend is None:
            raise DeskError(f"{folder} 中的规格是 {WORKBOOK_NAME}，本版本还不能把年度计划写入 {WORKBOOK_NAME}。"
                            f"请按计划汇总报告手工修改 {WORKBOOK_NAME}，或把规格导出为 YAML 后再运行 plan --collect。")
        backend(folder / WORKBOOK_NAME, list(changes))
        return [WORKBOOK_NAME]
    return apply_to_yaml(folder, spec, changes)


def _workbook_backend() -> Optional[Callable[[Path, list[Change]], None]]:
    """The 规格.xlsx backend: the changes as cells of the spec workbook (spec/workbook_edit.py)."""
    from .spec.workbook_edit import update_spec_workbook
    from .spec import load_spec

    def apply(path: Path, changes: list[Change]) -> None:
        spec = load_spec(path.parent)
        cells = [cell for change in changes for cell in workbook_cells(spec, change)]
        update_spec_workbook(path, cells)
        again = load_spec(path.parent)            # read back: every change must now hold
        for change in changes:
            if change.key and not _holds(again, change):
                raise DeskError(f"{path} 写入后核对不符（{change.describe()}），请检查该工作簿。")
    return apply


def _holds(spec, change) -> bool:
    item = _find(spec, change.kind, change.id)
    if item is None:
        return False
    got = getattr(item, f"{change.key}_for")(change.year)
    if change.key == "plan":
        got = dict(got)
    return got == change.new or (isinstance(got, (int, float)) and isinstance(change.new, (int, float))
                                 and abs(float(got) - float(change.new)) < 1e-9)


def _find(spec, kind, item_id):
    for project in spec.projects:
        for item in getattr(project, LISTS[kind]):
            if item.id == item_id:
                return item
    return None


def workbook_cells(spec: Spec, change: Change) -> list[tuple[str, Any, str, Any]]:
    """One plan change → the (sheet, row id, column, value) cells of 规格.xlsx that say it."""
    from .spec.schema import INDICATOR, MAJOR, TASK
    from .spec.sheets import PROJECT_NO, year_header
    sheet, table = {"indicator": ("指标", INDICATOR), "task": ("重点任务", TASK),
                    "major_project": ("重大项目", MAJOR)}[change.kind]
    labels = {f.key: f.label for f in table}
    if not change.key:                                    # a new task or major project: a new row
        cells: list[tuple[str, Any, str, Any]] = [(sheet, change.id, PROJECT_NO, change.project)]
        for key, value in change.new.items():
            if key == "id" or value in (None, ""):
                continue
            if isinstance(value, dict):                   # a value by year
                cells += [(sheet, change.id, year_header(labels[key], y), v) for y, v in value.items()]
            elif isinstance(value, (list, tuple)):
                cells.append((sheet, change.id, labels[key], "、".join(value)))
            elif key == "recurring":
                cells.append((sheet, change.id, labels[key], "是" if value else "否"))
            else:
                cells.append((sheet, change.id, labels[key], value))
        return cells
    if change.key == "plan":                              # a month plan: its own row for the year
        return [("月度计划", (change.id, change.year), f"{m}月", v) for m, v in sorted(change.new.items())]
    label = labels[change.key]
    item = _find(spec, change.kind, change.id)
    cells = []
    every_year = getattr(item, change.key, None) if item is not None else None
    if item is not None and not getattr(item, f"{change.key}_by_year") and every_year not in (None, "", ()):
        # a single value meant "every year": it becomes the first plan year's, earlier years keep it
        cells.append((sheet, change.id, label, None))
        first = spec.plan_years[0]
        if first != change.year:
            cells.append((sheet, change.id, year_header(label, first), every_year))
    cells.append((sheet, change.id, year_header(label, change.year), change.new))
    return cells
