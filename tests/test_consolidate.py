import datetime as dt
import json
import sqlite3
import zipfile
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from workbook_tool import demo
from workbook_tool.cli import main
from workbook_tool.consolidate import consolidate
from workbook_tool.desk import DeskError
from workbook_tool.workflow import generate_templates

from conftest import ON_TIME, Office, objects


def master_rows(path, sheet):
    ws = openpyxl.load_workbook(path)[sheet]
    headers = [c.value for c in ws[2]]
    return [dict(zip(headers, [c.value for c in row])) for row in ws.iter_rows(min_row=3)]


def test_correct_returns_are_merged_into_the_master(may):
    wb = may.filled("县发改局")
    demo.set_cell(wb, "indicators", "01-I02", "actual", 61.5)
    demo.add_project(wb, "菜园燃气管道工程", 12000, 3000, 1250.5, may.period)
    demo.add_problem(wb, "=HYPERLINK(\"http://x\") 用地指标不足", may.period)
    may.drop(wb, "a/随便起的名字.xlsx")
    may.drop(may.filled("县经信局"), "b.xlsx")
    summary = consolidate(*objects(may.root, "specs/shengsi", "2023-05"))
    assert summary["accepted"] == ["县发改局", "县经信局"]
    assert summary["rejected"] == [] and summary["findings"] == {"错误": 0, "警告": 0}
    assert len(summary["missing"]) == len(may.spec.responsible_units) - 2
    master = summary["master"]
    rows = master_rows(master, "主要指标")
    mine = [r for r in rows if r["填报单位"] == "县发改局" and r["指标名称"] == "年度完成投资"]
    assert len(mine) == 1 and mine[0]["本年累计完成"] == 61.5 and mine[0]["数据期次"] == "本期"
    projects = [r for r in master_rows(master, "重大项目") if r["项目名称"] == "菜园燃气管道工程"]
    assert projects[0]["本年累计完成投资(万元)"] == 1250.5 and projects[0]["总投资(万元)"] == 12000
    assert projects[0]["年度投资完成率"] == pytest.approx(1250.5 / 3000)
    # unit text that looks like a formula is written as text, never as a formula
    with zipfile.ZipFile(master) as zf:
        problem_sheet = zf.read("xl/worksheets/sheet5.xml").decode()
        shared = zf.read("xl/sharedStrings.xml").decode()
    assert "HYPERLINK" not in problem_sheet and "=HYPERLINK" in shared.replace("&quot;", '"')
    overview = openpyxl.load_workbook(master)["总览"]
    assert overview.cell(4, 2).value == may.spec.projects[0].name
    status = master_rows(master, "报送情况")
    assert [s["结果"] for s in status if s["单位"] in ("县发改局", "县经信局")] == ["采用", "采用"]
    assert {s["结果"] for s in status if s["单位"] not in ("县发改局", "县经信局")} == {"未报"}


def test_bad_return_is_rejected_with_feedback(may):
    wb = may.filled("县经信局")
    cell = demo.set_cell(wb, "indicators", "02-I01", "actual", "约12亿")
    may.drop(wb, "x.xlsx")
    summary = consolidate(*objects(may.root, "specs/shengsi", "2023-05"))
    assert summary["rejected"] == ["县经信局"]
    entry = summary["files"][0]
    assert entry == {"path": "x.xlsx", "unit": "县经信局", "verdict": "rejected", "codes": ["V001"],
                     "period": "2023-05"}
    feedback = may.root / "consolidated/shengsi/2023-05/退回/县经信局.xlsx"
    assert summary["feedback"] == [str(feedback)]
    fb = openpyxl.load_workbook(feedback)
    ws = fb["主要指标"]
    assert ws[cell].value == "约12亿"                       # the unit's own value is back
    assert ws[cell].comment is not None and "数字" in ws[cell].comment.text
    assert "退回意见" in [c.value for c in fb["填报说明"]["A"]]
    # the feedback workbook is still the unit's signed template: fixed and returned, it is accepted
    demo.set_cell(fb, "indicators", "02-I01", "actual", 12)
    (may.root / "inbox" / "x.xlsx").unlink()
    may.drop(fb, "fixed.xlsx")
    again = consolidate(*objects(may.root, "specs/shengsi", "2023-05"))
    assert again["accepted"] == ["县经信局"] and again["rejected"] == []
    assert not feedback.exists()


def test_newest_of_several_returns_wins(may):
    older = may.filled("县发改局")
    demo.set_cell(older, "indicators", "01-I02", "actual", 10)
    newer = may.filled("县发改局")
    demo.set_cell(newer, "indicators", "01-I02", "actual", 20)
    # the one received last wins, whatever time the sender's application wrote into the file
    second = may.root / "inbox" / "second.xlsx"
    newer.save(second)
    demo.set_saved(second, dt.datetime(2099, 1, 1, 8))        # a draft stamped in the future
    demo.set_received(second, dt.datetime(2023, 6, 1, 9))
    first = may.root / "inbox" / "first.xlsx"
    older.save(first)
    demo.set_saved(first, dt.datetime(2023, 5, 1, 8))
    demo.set_received(first, dt.datetime(2023, 6, 2, 9))
    summary = consolidate(*objects(may.root, "specs/shengsi", "2023-05"))
    assert summary["superseded"] == ["second.xlsx"]
    verdicts = {f["path"]: f["verdict"] for f in summary["files"]}
    assert verdicts == {"first.xlsx": "accepted", "second.xlsx": "superseded"}
    row = [r for r in master_rows(summary["master"], "主要指标")
           if r["填报单位"] == "县发改局" and r["指标名称"] == "年度完成投资"][0]
    assert row["本年累计完成"] == 10


def test_inbox_zip_eml_and_late(may):
    tmp = may.root / "tmp"
    tmp.mkdir()
    a = tmp / "县发改局-5月.xlsx"
    may.filled("县发改局").save(a)
    demo.zip_into(may.root / "inbox" / "打包.zip", {"五月/进度表.xlsx": a})
    demo.set_received(may.root / "inbox" / "打包.zip", ON_TIME)
    b = tmp / "b.xlsx"
    may.filled("县经信局").save(b)
    demo.mail_into(may.root / "inbox" / "mail.eml", b, "", dt.datetime(2023, 6, 9, 10))
    summary = consolidate(*objects(may.root, "specs/shengsi", "2023-05"))
    paths = {f["path"]: f["unit"] for f in summary["files"]}
    assert paths == {"mail.eml!b.xlsx": "县经信局", "打包.zip!五月/进度表.xlsx": "县发改局"}
    assert summary["late"] == ["县经信局"]
    assert sorted(summary["accepted"]) == sorted(["县发改局", "县经信局"])


def test_files_of_other_periods_and_strangers_are_listed(may):
    generate_templates(*objects(may.root, "specs/shengsi", "2023-04"), units=["县发改局"])
    april = Office(may.root, may.spec, None, may.root / "templates/shengsi/2023-04")
    may.drop_file(april.template("县发改局"), "april.xlsx")
    (may.root / "inbox" / "notes.pdf").write_bytes(b"%PDF-1.4 not a workbook")
    stranger = openpyxl.Workbook()
    stranger.active["A1"] = "自己做的表"
    may.drop(stranger, "own.xlsx")
    summary = consolidate(*objects(may.root, "specs/shengsi", "2023-05"))
    got = {f["path"]: (f["verdict"], f["codes"]) for f in summary["files"]}
    assert got == {"april.xlsx": ("skipped", ["F006"]), "notes.pdf": ("rejected", ["F001"]),
                   "own.xlsx": ("rejected", ["F003"])}
    assert summary["skipped"] == ["april.xlsx"]


def test_rerun_gives_the_same_master_bytes(may):
    may.drop(may.filled("县发改局"), "a.xlsx")
    bad = may.filled("县经信局")
    demo.set_cell(bad, "tasks", "02-T01", "state", "进行中")
    may.drop(bad, "b.xlsx")
    first = consolidate(*objects(may.root, "specs/shengsi", "2023-05"))
    master1 = Path(first["master"]).read_bytes()
    feedback1 = Path(first["feedback"][0]).read_bytes()
    second = consolidate(*objects(may.root, "specs/shengsi", "2023-05"))
    assert Path(second["master"]).read_bytes() == master1
    assert Path(second["feedback"][0]).read_bytes() == feedback1
    assert first.summary == second.summary and first.findings == second.findings


def test_two_periods_carry_forward_and_cumulative_checks(may):
    # May: accepted, with an added project and an open problem
    wb = may.filled("县发改局")
    demo.set_cell(wb, "indicators", "01-I02", "actual", 50)
    demo.add_project(wb, "菜园燃气管道工程", 12000, 3000, 1000, may.period)
    problem_key = demo.add_problem(wb, "用地指标不足", may.period)
    may.drop(wb, "may.xlsx")
    may_summary = consolidate(*objects(may.root, "specs/shengsi", "2023-05"))
    assert may_summary["accepted"] == ["县发改局"]
    db = sqlite3.connect(may.root / "consolidated/shengsi/ledger.sqlite")
    stored = dict(db.execute("SELECT r.key, r.vals FROM standing s JOIN version_rows r ON r.sha256 = s.sha256 "
                             "WHERE s.period='2023-05' AND s.unit='县发改局' AND r.tab='indicators'").fetchall())
    assert json.loads(stored["01-I02"])["actual"] == 50
    assert db.execute("SELECT verdict FROM files WHERE period='2023-05'").fetchall() == [("accepted",)]

    # June: the template carries May's values, the added project and the open problem
    generate_templates(*objects(may.root, "specs/shengsi", "2023-06"), units=["县发改局"])
    june_path = may.root / "templates/shengsi/2023-06/县发改局.xlsx"
    june = openpyxl.load_workbook(june_path)
    rows = dict(demo.rows_of(june, "indicators"))
    assert rows["01-I02"]["actual"] == 50
    projects = {v["name"]: k for k, v in demo.rows_of(june, "projects") if v["name"]}
    assert "菜园燃气管道工程" in projects
    problems = {k: v for k, v in demo.rows_of(june, "problems")}
    assert problems[problem_key]["description"] == "用地指标不足"
    assert june["问题销号"].cell(demo.row_index(june["问题销号"], demo.TABLES["problems"])[problem_key],
                                 3).protection.locked is not False

    # June return: the cumulative value went down, and the open problem row was deleted
    for f in (may.root / "inbox").iterdir():
        f.unlink()
    demo.set_cell(june, "indicators", "01-I02", "actual", 40)
    demo.set_cell(june, "indicators", "01-I02", "note", "统计口径调整")
    ws = june["问题销号"]
    ws.delete_rows(demo.row_index(ws, demo.TABLES["problems"])[problem_key])
    june_file = may.root / "inbox" / "june.xlsx"
    june.save(june_file)
    demo.set_received(june_file, dt.datetime(2023, 7, 3))
    summary = consolidate(*objects(may.root, "specs/shengsi", "2023-06"))
    assert summary["rejected"] == ["县发改局"]
    codes = summary["files"][0]["codes"]
    # the deleted open problem is named by its number, with no cascade of row findings
    assert "X004" in codes and "X007" in codes and "S003" not in codes
    x007 = [f for f in summary.findings if f.code == "X007"]
    assert len(x007) == 1 and x007[0].detail == "用地指标不足" and x007[0].seen == problems[problem_key]["code"]
    # the ledger keeps every period's accepted values: history for charts
    from workbook_tool.ledger import Ledger
    with Ledger(may.root / "consolidated/shengsi/ledger.sqlite") as ledger:
        assert [(p, v["actual"]) for p, v in ledger.history("shengsi", "县发改局", "indicators", "01-I02")] == \
            [("2023-05", 50)]
    # the rejected June return does not erase May's accepted data: the master shows it, marked
    rows = [r for r in master_rows(summary["master"], "主要指标") if r["填报单位"] == "县发改局"]
    assert {r["数据期次"] for r in rows} == {"沿用2023-05"}
    assert [r["本年累计完成"] for r in rows if r["指标名称"] == "年度完成投资"] == [50]


def test_stale_template_is_refused(may):
    old = may.template("县发改局").read_bytes()
    old_wb_path = may.root / "old.xlsx"
    old_wb_path.write_bytes(old)
    # the office changes the spec and issues a new template for the same period
    spec_file = may.root / "specs/shengsi/projects/01.yaml"
    spec_file.write_text(spec_file.read_text(encoding="utf-8").replace("    name: 每年滚动推进重大项目", "    name: 每年滚动推进重大项目（修订）", 1),
                         encoding="utf-8")
    generate_templates(*objects(may.root, "specs/shengsi", "2023-05"), units=["县发改局"])
    wb = openpyxl.load_workbook(old_wb_path)
    demo.fill_correctly(wb, may.period, may.rng)
    may.drop(wb, "old-template.xlsx")
    summary = consolidate(*objects(may.root, "specs/shengsi", "2023-05"))
    assert summary["files"][0]["codes"] == ["F007"]
    assert summary["files"][0]["verdict"] == "rejected"


def test_master_held_open_gives_a_clear_error_and_keeps_the_old_master(may, monkeypatch):
    may.drop(may.filled("县发改局"), "a.xlsx")
    first = consolidate(*objects(may.root, "specs/shengsi", "2023-05"))
    before = Path(first["master"]).read_bytes()
    import workbook_tool.consolidate as module

    real_replace = module.os.replace

    def locked(src, dst):
        if str(src).endswith("shengsi/2023-05"):      # Windows: a folder holding an open file cannot move
            raise PermissionError(13, "Permission denied", str(src))
        return real_replace(src, dst)
    monkeypatch.setattr(module.os, "replace", locked)
    with pytest.raises(DeskError, match="正在 Excel/WPS 中打开"):
        consolidate(*objects(may.root, "specs/shengsi", "2023-05"))
    assert Path(first["master"]).read_bytes() == before


def test_cli_json_contract(may):
    may.drop(may.filled("县发改局"), "a.xlsx")
    result = CliRunner().invoke(main, ["consolidate", "--root", str(may.root), "--spec", "specs/shengsi",
                                       "--period", "2023-05", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    for key in ("county", "period", "expected", "accepted", "rejected", "missing", "late", "superseded",
                "findings", "master", "files"):
        assert key in data
    assert data["expected"] == len(may.spec.responsible_units)
    assert data["files"] == [{"path": "a.xlsx", "unit": "县发改局", "verdict": "accepted", "codes": [],
                              "period": "2023-05"}]
    assert set(data["findings"]) == {"错误", "警告"}


def test_cli_status_and_usage_errors(may):
    may.drop(may.filled("县发改局"), "a.xlsx")
    runner = CliRunner()
    result = runner.invoke(main, ["status", "--root", str(may.root), "--spec", "specs/shengsi",
                                  "--period", "2023-05"])
    assert result.exit_code == 0 and "可采用  县发改局" in result.output and "未报  县经信局" in result.output
    assert not (may.root / "consolidated/shengsi/2023-05").exists()
    bad = runner.invoke(main, ["consolidate", "--root", str(may.root), "--spec", "specs/shengsi",
                               "--period", "2023-13"])
    # a month that does not exist is a usage error (status 2), named as such
    assert bad.exit_code == 2 and "月份 13 不存在" in bad.output and "Traceback" not in bad.output
    badly_written = runner.invoke(main, ["consolidate", "--root", str(may.root), "--period", "May"])
    assert badly_written.exit_code == 2 and "YYYY-MM" in badly_written.output
    usage = runner.invoke(main, ["consolidate", "--root", str(may.root)])
    assert usage.exit_code == 2 and "缺少选项 '--period'" in usage.output and "Missing" not in usage.output
