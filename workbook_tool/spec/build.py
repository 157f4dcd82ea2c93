"""Validated mappings (from YAML or 规格.xlsx alike) → the frozen Spec.

The front ends turn their files into Nodes that know where each value is; this module walks
them with the field tables of schema.py and adds what a single field cannot know: the unit
registry, groups, which units serve a project, ids unique across the county.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any, Optional, cast

from .fields import Items, Node, validate
from .model import Indicator, MajorProject, Problem, Project, Spec, Task, Unit, default_unit_code
from .problems import Location, Problems
from .schema import COUNTY, ITEM_TABLES, PROJECT, TABLE_TITLES, UNIT


@dataclass(frozen=True)
class Registry:
    """The county's units: every spelling (names and aliases) and the groups, to resolve names."""

    units: tuple
    spelled: dict = field(hash=False, compare=False)      # name or alias → where it is registered
    groups: dict = field(hash=False, compare=False)       # group name → canonical member names

    def resolve(self, name: str) -> Optional[str]:
        for unit in self.units:
            if name == unit.name or name in unit.aliases:
                return unit.name
        return None

    def hint(self, name: Any, where: Location, with_groups: bool = False) -> str:
        """A did-you-mean for a near-miss unit name, else where to register it."""
        names = list(self.spelled) + (list(self.groups) if with_groups else [])
        if isinstance(name, str):
            close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
            if not close:
                # Chinese unit names differ by one or two characters: compare by containment too.
                close = [n for n in names if name and (name in n or n in name)][:1]
            if close:
                return f"，是否应为 {close[0]!r}？"
        else:
            return "。"
        if where.in_workbook:
            return "。请在「单位」表中登记该单位。"
        return "。请在 county.yaml 的 units 中登记该单位。"


@dataclass(frozen=True)
class Settings:
    """The county-level part of a spec: everything of Spec but its projects."""

    values: dict = field(hash=False, compare=False)       # Spec's keyword arguments
    registry: Registry = field(hash=False, compare=False)

    @property
    def plan_years(self) -> tuple:
        return self.values["plan_years"]

    @property
    def tables(self) -> tuple:
        return self.values["tables"]


# -- the county --------------------------------------------------------------------------------------

def build_county(doc: Node, out: Problems) -> Settings:
    what = "县设置" if doc.at().in_workbook else "county.yaml "
    v = validate(doc, COUNTY, out, what)
    if "tables" in doc and doc["tables"] is None:
        out.add("P041", doc.at("tables"), choices=", ".join(TABLE_TITLES))
    units, spelled = build_units(doc, out)
    registry = Registry(units, spelled, {})
    registry = Registry(units, spelled, build_groups(doc, registry, out))
    office = v["office"] or {}
    host = office.get("host_unit", "")
    office_unit = ""
    if host:
        office_unit = registry.resolve(host) or ""
        if not office_unit:
            where = doc["office"].at("host_unit")
            out.add("P054", where, what="办公室所在单位", name=host, hint=registry.hint(host, where))
    lights, blank, limits = v["lights"] or {}, v["blank_rows"] or {}, v["limits"] or {}
    values = dict(
        county=v["county"], code=v["code"], issuer=v["issuer"] or f"{v['county']}“十项重大工程”总专班办公室",
        office_unit=office_unit, office_contact=office.get("contact", ""), office_phone=office.get("phone", ""),
        office_email=office.get("email", ""), plan_years=v["plan_years"], tables=v["tables"],
        deadline_day=v["deadline_day"], yellow=lights.get("yellow", 10.0),
        blank_projects=blank.get("projects", 3), blank_problems=blank.get("problems", 3),
        units=units, groups=registry.groups, max_file_mb=limits.get("max_file_mb", 50.0),
        max_unpacked_mb=limits.get("max_unpacked_mb", 200.0), max_read_seconds=limits.get("max_read_seconds", 60.0),
        max_memory_mb=limits.get("max_memory_mb", 1024.0), resubmit_days=v["resubmit_days"])
    return Settings(values, registry)


def build_units(doc: Node, out: Problems) -> tuple:
    """(units, {every spelling: where}) from the registry, reporting duplicates of names and codes."""
    raw = doc.get("units") or []
    if not isinstance(raw, list):
        out.add("P016", doc.at("units"), name=doc.name("units"), what="单位")
        raw = []
    units = []
    spelled: dict[str, Location] = {}
    codes: dict[str, str] = {}           # code → the unit name that has it
    for i, node in enumerate(raw):
        if not isinstance(node, Node):
            out.add("P017", cast(Items, raw).at(i), what="每个单位", hint="，至少有 name")   # sources give Items
            continue
        v = validate(node, UNIT, out, "单位")
        for name in [v["name"], *v["aliases"]]:
            if name and name in spelled:
                out.add("P050", node.at("name"), name=name, other=spelled[name].brief())
            if name:
                spelled[name] = node.at("name")
        code = v["code"].upper() or default_unit_code(v["name"])
        if code in codes:
            out.add("P051", node.at("code") if "code" in node else node.at("name"), code=code, other=codes[code])
        codes.setdefault(code, v["name"])
        units.append(Unit(name=v["name"], aliases=tuple(v["aliases"]), contact=v["contact"], phone=v["phone"],
                          email=v["email"], code=code))
    _same_file_names(units, spelled, out)
    return tuple(units), spelled


def _same_file_names(units: list, spelled: dict, out: Problems) -> None:
    """Distinct unit names that would write the same template file (县/发改局 and 县:发改局)."""
    from ..template import safe_filename
    seen: dict = {}
    for u in units:
        if not u.name:
            continue
        file = safe_filename(u.name)
        key = file.casefold()
        if key in seen and seen[key] != u.name:
            out.add("P074", spelled.get(u.name) or Location("county.yaml"), name=seen[key], other=u.name, file=file)
        seen.setdefault(key, u.name)


def build_groups(doc: Node, registry: Registry, out: Problems) -> dict:
    raw = doc.get("groups") or Node(doc.at("groups"))
    if not isinstance(raw, dict):
        out.add("P017", doc.at("groups"), what="groups ", hint="，如 {各乡镇: [甲镇, 乙镇]}（组名: [成员单位…]）")
        return {}
    groups = {}
    for gname, members in raw.items():
        where = cast(Node, raw).at(gname)            # sources give Node
        if gname in registry.spelled:
            out.add("P052", where, name=gname)
        if not isinstance(members, list) or not members:
            out.add("P053", where, name=gname)
            continue
        resolved = []
        for j, member in enumerate(members):
            canonical = registry.resolve(member) if isinstance(member, str) else None
            at = members.at(j) if isinstance(members, Items) else where
            if canonical is None:
                out.add("P054", at, what=f"组 {gname!r} 的成员", name=member, hint=registry.hint(member, at))
            else:
                resolved.append(canonical)
        groups[gname] = tuple(resolved)
    return groups


# -- projects ------------------------------------------------------------------------------------------

class Ids:
    """Row ids seen so far across the county's projects: each must be unique."""

    def __init__(self) -> None:
        self.seen: dict = {}

    def remember(self, node: Node, out: Problems) -> None:
        value = node.get("id")
        if "id" not in node and "id" not in node.reported:
            return                                  # reported as a missing required key
        if not isinstance(value, (str, int)) or isinstance(value, bool) or str(value).strip() == "":
            if "id" not in node.reported:
                out.add("P063", node.at())
            return
        value = str(value)
        if not re.fullmatch(r"[0-9A-Za-z_.-]+", value):
            out.add("P022", node.at("id"), name="id", value=value, rule="只能用字母、数字、- _ . 。")
        if value in self.seen:
            out.add("P064", node.at("id"), value=value, other=self.seen[value].brief())
        else:
            self.seen[value] = node.at("id")


class Members:
    """Resolves the unit lists of one project: names, aliases and (where allowed) groups."""

    def __init__(self, registry: Registry, out: Problems) -> None:
        self.registry, self.out = registry, out
        self.served: set = set()

    def names(self, node: Node, key: str, allow_groups: bool = True) -> tuple:
        seq = node.get(key) or []
        if isinstance(seq, str):
            seq = Items(node.at(key), [seq], [node.at(key)])
        if not isinstance(seq, list):
            self.out.add("P016", node.at(key), name=node.name(key), what="单位")
            return ()
        result: list[str] = []
        for i, name in enumerate(seq):
            where = seq.at(i) if isinstance(seq, Items) else node.at(key)
            if not isinstance(name, str):
                self.out.add("P055", where, name=node.name(key), value=name)
                continue
            result.extend(self._one(name.strip(), where, allow_groups))
        return tuple(dict.fromkeys(result))

    def _one(self, name: str, where: Location, allow_groups: bool) -> tuple:
        groups = self.registry.groups
        if name in groups:
            if allow_groups:
                return groups[name]
            self.out.add("P056", where, name=name)
            return ()
        found = self.registry.resolve(name)
        if found is None:
            self.out.add("P054", where, what="单位", name=name, hint=self.registry.hint(name, where, True))
            return ()
        return (found,)

    def owners(self, node: Node, key: str, default: tuple) -> tuple:
        """Units of a row: each must serve the project; none given means ``default``."""
        if key not in node:
            return default
        found = self.names(node, key)
        for name in found:
            if name not in self.served:
                self.out.add("P061", node.at(key), name=name)
        return tuple(n for n in found if n in self.served) or default


def build_project(doc: Node, settings: Settings, ids: Ids, out: Problems, file: str) -> Project:
    v = validate(doc, PROJECT, out, "工程文件" if not doc.at().in_workbook else "工程")
    members = Members(settings.registry, out)
    lead = members.names(doc, "lead_units", allow_groups=False)
    if not lead and "lead_units" in doc:
        out.add("P060", doc.at("lead_units"))
    units = members.names(doc, "units")
    members.served = set(lead) | set(units)
    rows = {}
    for key, (table, what) in ITEM_TABLES.items():
        built = []
        for node, values in items(doc, key, table, what, settings, out):
            built.append(ROW_BUILDERS[key](node, values, members, lead, settings))
            ids.remember(node, out)
        rows[key] = tuple(built)
    for table_key, key in (("projects", "major_projects"), ("problems", "problems"),
                           ("indicators", "indicators"), ("tasks", "tasks")):
        if rows[key] and table_key not in settings.tables:
            out.add("P044", doc.at(key), title=TABLE_TITLES[table_key], table=table_key, key=key)
    return Project(
        no=v["no"], name=v["name"], convener=v["convener"], lead_units=lead,
        units=tuple(u for u in units if u not in lead), goal=v["goal"], indicators=rows["indicators"],
        tasks=rows["tasks"], major_projects=rows["major_projects"], problems=rows["problems"],
        file=file, short=v["short"])


def items(doc: Node, key: str, table: tuple, what: str, settings: Settings, out: Problems) -> list:
    """(node, validated values) of each row of a project's list ``key``."""
    seq = doc.get(key) or []
    if not isinstance(seq, list):
        out.add("P016", doc.at(key), name=doc.name(key), what="")
        return []
    result = []
    for i, node in enumerate(seq):
        if not isinstance(node, Node):
            out.add("P017", seq.at(i) if isinstance(seq, Items) else doc.at(key), what=what, hint="")
            continue
        result.append((node, validate(node, table, out, what, settings.plan_years)))
    return result


def build_indicator(node: Node, v: dict, members: Members, lead: tuple, settings: Settings) -> Indicator:
    first, last = settings.plan_years
    kind, year, target = v["kind"], v["year"], v["target"]
    out = members.out
    if kind == "plan_cumulative":
        if v["direction"] == "lower":
            out.add("P065", node.at("kind"))
        if "plan" in node:
            out.add("P066", node.at("plan"))
        if year and not first <= year <= last:
            out.add("P067", node.at("year"), first=first, last=last)
    annual, annual_by_year = v["annual"]
    if annual is None and target is not None:
        annual = round(target / (last - first + 1), 4) \
            if kind in ("cumulative", "plan_cumulative") and year == last else target
    plan, plan_by_year = v["plan"]
    return Indicator(
        id=str(node.get("id", "")), name=v["name"], measure=v["measure"], target=target or 0.0, year=year,
        direction=v["direction"], kind=kind, annual=annual or 0.0, units=members.owners(node, "units", lead),
        plan=plan or (), annual_by_year=tuple((y, a or 0.0) for y, a in annual_by_year),
        plan_by_year=plan_by_year, plan_start=first)


def build_task(node: Node, v: dict, members: Members, lead: tuple, settings: Settings) -> Task:
    milestone, milestone_by_year = v["milestone"]
    due, due_by_year = v["due"]
    return Task(
        id=str(node.get("id", "")), name=v["name"], milestone=milestone or "", due=due,
        units=members.owners(node, "units", lead), partners=members.names(node, "partners"),
        milestone_by_year=milestone_by_year, due_by_year=due_by_year, recurring=v["recurring"])


def build_major(node: Node, v: dict, members: Members, lead: tuple, settings: Settings) -> MajorProject:
    owner = members.owners(node, "owner", ())
    annual_plan, annual_plan_by_year = v["annual_plan"]
    return MajorProject(
        id=str(node.get("id", "")), name=v["name"], content=v["content"], owner=owner[0] if owner else "",
        total_investment=v["total_investment"], annual_plan=annual_plan, planned_start=v["planned_start"],
        annual_plan_by_year=annual_plan_by_year)


def build_problem(node: Node, v: dict, members: Members, lead: tuple, settings: Settings) -> Problem:
    return Problem(
        id=str(node.get("id", "")), description=v["description"], raised=v["raised"],
        units=members.owners(node, "units", lead), measures=v["measures"], due=v["due"])


ROW_BUILDERS = {"indicators": build_indicator, "tasks": build_task, "major_projects": build_major,
                "problems": build_problem}


def build_spec(county: Node, projects: list, folder: str, out: Problems) -> Spec:
    """The whole spec from the county mapping and [(project mapping, file), ...]; raise every problem."""
    settings = build_county(county, out)
    ids, built = Ids(), []
    numbers: dict[int, Location] = {}
    for doc, file in projects:
        project = build_project(doc, settings, ids, out, file)
        if project.no and project.no in numbers:
            out.add("P062", doc.at("no"), no=project.no, other=numbers[project.no].brief().split(":")[0])
        numbers.setdefault(project.no, doc.at("no"))
        built.append(project)
    if out:
        raise out.error()
    built.sort(key=lambda p: p.no)
    return Spec(**settings.values, projects=tuple(built), folder=folder)
