"""Benchmark generate and consolidate against the raw read/write floor.

    python benchmarks/bench.py                 # 50 units
    python benchmarks/bench.py --units 500 --growth
    python benchmarks/bench.py --units 5000 --jobs 2

A synthetic county is built from the shipped 嵊泗 spec: the same projects and
tables, more units, each synthetic unit mirroring one real unit's rows. Returns
are "filled" by writing each template with its input cells already typed in
(how it fills is not timed). Then, on the same cells and files:

- generate      vs. the write floor: XlsxWriter writing the same cells with no
                protection, validation, formats or signature;
- consolidate   vs. the read floor: python-calamine reading every cell of every
                sheet of every return, and the byte floor: unzipping every part.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import resource
import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from workbook_tool import signing  # noqa: E402
from workbook_tool.consolidate import consolidate  # noqa: E402
from workbook_tool.desk import Desk, Period  # noqa: E402
from workbook_tool.spec import load_spec, spec_as_json  # noqa: E402
from workbook_tool.tables import TABLES, tables_of  # noqa: E402
from workbook_tool.carry import unit_rows  # noqa: E402
from workbook_tool.template import safe_filename, write_template  # noqa: E402
from workbook_tool.workflow import EXAMPLES, generate_templates  # noqa: E402

PERIOD = Period(2023, 5)


def synthetic_spec(n_units: int, folder: Path) -> Path:
    """Write a county of ``n_units`` responsible units modelled on 嵊泗 into ``folder``."""
    base = spec_as_json(load_spec(EXAMPLES / "shengsi"))
    real = [u["name"] for u in base["units"]]
    extra = max(0, n_units - len(real))
    clones = {}                      # real unit → its synthetic mirrors
    units = [{k: v for k, v in u.items() if k != "code"} for u in base["units"]][:n_units]
    for i in range(extra):
        original = real[i % len(real)]
        name = f"模拟单位{i + 1:05d}"
        clones.setdefault(original, []).append(name)
        # explicit codes: codes derived from 4 characters of a name's hash collide among thousands of units
        units.append({"name": name, "aliases": [], "contact": "", "phone": "", "email": "", "code": f"M{i + 1:05d}"})
    kept = {u["name"] for u in units}

    def widen(names):
        out = [n for n in names if n in kept]
        for n in names:
            out.extend(clones.get(n, []))
        return out

    folder.mkdir(parents=True)
    county = {
        "county": base["county"] + "（模拟）", "code": "bench", "issuer": base["issuer"],
        "office": {"host_unit": "县发改局"}, "plan_years": base["plan_years"], "tables": base["tables"],
        "deadline_day": base["deadline_day"], "lights": base["lights"], "blank_rows": {"projects": 2, "problems": 2},
        "units": units, "groups": {},
    }
    (folder / "county.yaml").write_text(yaml.safe_dump(county, allow_unicode=True, sort_keys=False), "utf-8")
    (folder / "projects").mkdir()
    for p in base["projects"]:
        lead = [u for u in p["lead_units"] if u in kept] or ["县发改局"]
        members = widen(p["units"] + p["lead_units"])
        doc = {
            "no": p["no"], "name": p["name"], "convener": p["convener"], "lead_units": lead,
            "units": [u for u in members if u not in lead], "goal": p["goal"],
            "indicators": [{k: v for k, v in {**i, "units": widen(i["units"]) or lead}.items()
                            if _plain(k) and (k != "plan" or v)} for i in p["indicators"]],
            "tasks": [{k: v for k, v in {**t, "units": widen(t["units"]) or lead,
                                         "partners": [x for x in t["partners"] if x in kept]}.items() if _plain(k)}
                      for t in p["tasks"]],
        }
        (folder / "projects" / f"{p['no']:02d}.yaml").write_text(
            yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), "utf-8")
    return folder


def _plain(key: str) -> bool:
    """A spec key (``check-spec --json`` also shows the values by year under *_by_year)."""
    return not key.endswith("_by_year")


def fill_rows(rows, rng):
    """Type realistic values into the input cells of a unit's rows (in memory)."""
    for row in rows.get("indicators", []):
        row.values["actual"] = round((row.values.get("annual") or 1) * rng.uniform(0.4, 0.6), 2)
        row.values["note"] = "按计划推进"
    for row in rows.get("tasks", []):
        row.values.update(progress="已按节点推进", state="正常推进")
    for row in rows.get("projects", [])[:1]:
        row.values.update(name="模拟项目", content="建设", total=10000.0, plan=3000.0, invested=1200.0,
                          state="在建", planned_start=dt.date(2023, 3, 1), started=dt.date(2023, 3, 5))
    for row in rows.get("problems", [])[:1]:
        row.values.update(description="用地报批慢", raised=dt.date(2023, 5, 10), measures="协调",
                          due=dt.date(2023, 12, 31), state="未销号", progress="协调中")
    return rows


def write_floor(spec, all_rows, out_dir: Path):
    """The same cells with plain XlsxWriter: no formats, protection, validation or signature."""
    import xlsxwriter
    out_dir.mkdir(parents=True, exist_ok=True)
    for unit, rows in all_rows.items():
        wb = xlsxwriter.Workbook(str(out_dir / f"{safe_filename(unit)}.xlsx"),
                                 {"strings_to_formulas": False, "strings_to_urls": False, "in_memory": True})
        wb.add_worksheet("填报说明").write_string(0, 0, unit)
        for table in tables_of(spec):
            ws = wb.add_worksheet(table.sheet)
            for c, col in enumerate(table.columns):
                ws.write_string(2, c, col.header)
            for r, row in enumerate(rows.get(table.key, []), start=3):
                for c, col in enumerate(table.columns):
                    v = row.values.get(col.key)
                    if v is None:
                        continue
                    if isinstance(v, (int, float)):
                        ws.write_number(r, c, v)
                    elif isinstance(v, dt.date):
                        ws.write_datetime(r, c, dt.datetime.combine(v, dt.time()))
                    else:
                        ws.write_string(r, c, str(v))
                ws.write_string(r, len(table.columns), row.key)
        wb.close()


def read_floor(paths):
    import python_calamine as calamine
    cells = 0
    for p in paths:
        wb = calamine.CalamineWorkbook.from_path(str(p))
        for name in wb.sheet_names:
            rows = wb.get_sheet_by_name(name).to_python(skip_empty_area=False)
            cells += sum(len(r) for r in rows)
    return cells


def byte_floor(paths):
    total = 0
    for p in paths:
        with zipfile.ZipFile(p) as zf:
            for info in zf.infolist():
                total += len(zf.read(info))
    return total


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def run(n_units: int, jobs: int, workdir: Path) -> dict:
    root = workdir / f"desk-{n_units}"
    spec_dir = synthetic_spec(n_units, root / "specs" / "bench")
    os.environ.setdefault(signing.ENV_KEY, "benchmark-key")
    spec = load_spec(spec_dir)
    units = spec.responsible_units

    desk = Desk(root)
    t_generate, _ = timed(generate_templates, desk, load_spec(desk.spec_folder("specs/bench")), PERIOD)
    rng = random.Random(1)
    all_rows = {u: unit_rows(spec, u, PERIOD) for u in units}
    t_floor_write, _ = timed(write_floor, spec, all_rows, workdir / f"floor-{n_units}")

    inbox = root / "inbox"
    inbox.mkdir(exist_ok=True)
    key = signing.load_key(root / ".workbook-tool-secret")
    when = dt.datetime(2023, 6, 3, 9).timestamp()
    for unit in units:                                  # filling: not timed
        path = inbox / f"{safe_filename(unit)}-{rng.randrange(10**6)}.xlsx"
        write_template(spec, unit, PERIOD, fill_rows(unit_rows(spec, unit, PERIOD), rng), key, path)
        os.utime(path, (when, when))
    returns = sorted(inbox.iterdir())
    cells = sum(len(TABLES[t].columns) * len(r) for rows in all_rows.values() for t, r in rows.items())

    t_bytes, _ = timed(byte_floor, returns)
    t_read, _ = timed(read_floor, returns)
    desk = Desk(root)
    t_consolidate, summary = timed(consolidate, desk, load_spec(desk.spec_folder("specs/bench")), PERIOD, jobs=jobs)
    assert len(summary["accepted"]) == len(units), (len(summary["accepted"]), summary["findings"])
    return {
        "units": len(units), "cells": cells, "generate": t_generate, "write_floor": t_floor_write,
        "consolidate": t_consolidate, "read_floor": t_read, "byte_floor": t_bytes,
    }


def report(r: dict, jobs: int):
    n = r["units"]
    ms = lambda t: f"{t / n * 1000:7.2f} ms"  # noqa: E731
    print(f"units {n}, data cells {r['cells']:,}, jobs {jobs}")
    print(f"  generate      {r['generate']:8.2f} s  {ms(r['generate'])}/workbook   "
          f"write floor {r['write_floor']:.2f} s ({ms(r['write_floor'])})   ratio {r['generate'] / r['write_floor']:.2f}")
    print(f"  consolidate   {r['consolidate']:8.2f} s  {ms(r['consolidate'])}/return     "
          f"read floor {r['read_floor']:.2f} s ({ms(r['read_floor'])})   ratio {r['consolidate'] / r['read_floor']:.2f}")
    print(f"  byte floor    {r['byte_floor']:8.2f} s  {ms(r['byte_floor'])}/return (unzip of every part)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--units", type=int, default=50)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--growth", action="store_true", help="also run at 10 × units and compare")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="wbt-bench-"))
    try:
        first = run(args.units, args.jobs, workdir)
        report(first, args.jobs)
        if args.growth:
            second = run(args.units * 10, args.jobs, workdir)
            report(second, args.jobs)
            print(f"  growth ×{second['units'] / first['units']:.0f} units: generate ×"
                  f"{second['generate'] / first['generate']:.1f}, consolidate ×"
                  f"{second['consolidate'] / first['consolidate']:.1f}")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"  peak memory {peak:.0f} MB (largest worker {children:.0f} MB)")
    finally:
        if args.keep:
            print(f"work folder: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
