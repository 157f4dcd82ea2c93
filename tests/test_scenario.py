"""Six messy months through the real CLI, across a year boundary (2023-10 … 2024-03).

Late returns, a re-run after a file is removed, a rejected resubmission, a skipped January and a
problem added in a late return; at every step the master, the JSON, the ledger and the next
templates must agree with what stands.
"""
import datetime as dt
import json
import random

import openpyxl
import pytest
from click.testing import CliRunner

from workbook_tool import demo
from workbook_tool.cli import main
from workbook_tool.ledger import Ledger
from workbook_tool.workflow import init_desk

A, B, C = "县发改局", "县经信局", "县财政局"


class Desk:
    def __init__(self, root):
        self.root = root
        self.rng = random.Random(11)

    def cli(self, *args):
        result = CliRunner().invoke(main, [*args, "--root", str(self.root)])
        assert result.exit_code == 0, result.output
        return result.output

    def generate(self, period):
        self.cli("generate", "--spec", "specs/shengsi", "--period", period)

    def fill(self, period, unit, bad=False, problem=None):
        wb = demo.open_template(self.root / "templates/shengsi" / period / f"{unit}.xlsx")
        demo.fill_correctly(wb, _period(period), self.rng)
        if bad:
            first = next(iter(demo.rows_of(wb, "indicators")))[0]
            demo.set_cell(wb, "indicators", first, "actual", "约12亿")
        key = demo.add_problem(wb, problem, _period(period)) if problem else None
        return wb, key

    def drop(self, wb, name, when):
        path = self.root / "inbox" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        wb.save(path)
        demo.set_received(path, when)
        return path

    def consolidate(self, period):
        summary = json.loads(self.cli("consolidate", "--spec", "specs/shengsi", "--period", period, "--json"))
        self.agree(summary)
        return summary

    def master(self, summary, sheet):
        ws = openpyxl.load_workbook(summary["master"], data_only=True)[sheet]
        headers = [c.value for c in ws[2]]
        return [dict(zip(headers, [c.value for c in row])) for row in ws.iter_rows(min_row=3)]

    def statuses(self, summary, unit):
        return {r["数据期次"] for r in self.master(summary, "主要指标") if r["填报单位"] == unit}

    def agree(self, summary):
        """The JSON, 报送情况, 总览 and the ledger tell one story."""
        status = self.master(summary, "报送情况")
        returned = {s["单位"] for s in status if s["是否报送"] == "是"}
        assert len(returned) == summary["returned"]
        assert returned == set(summary["accepted"]) | set(summary["rejected"])
        overview = openpyxl.load_workbook(summary["master"], data_only=True)["总览"]
        assert f"已报 {summary['returned']} 个" in overview["A2"].value
        with Ledger(self.root / "consolidated/shengsi/ledger.sqlite") as ledger:
            assert set(ledger.standing("shengsi", summary["period"])) == set(summary["accepted"])


def _period(text):
    from workbook_tool.desk import Period
    return Period.parse(text)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    root = tmp_path_factory.mktemp("scenario") / "desk"
    root.mkdir()
    init_desk(root, "shengsi")
    return Desk(root)


def test_six_messy_months_across_a_year_boundary(scenario):
    d = scenario
    # October: three on time, one late
    d.generate("2023-10")
    for unit in (A, B, C):
        d.drop(d.fill("2023-10", unit)[0], f"10月/{unit}.xlsx", dt.datetime(2023, 11, 3, 9))
    d.drop(d.fill("2023-10", "县民政局")[0], "10月/民政.xlsx", dt.datetime(2023, 11, 20, 9))
    oct_ = d.consolidate("2023-10")
    assert oct_["accepted"] == [A, B, C, "县民政局"] and oct_["late"] == ["县民政局"]

    # November: C's return is rejected, B's file is removed after a first run
    d.generate("2023-11")
    d.drop(d.fill("2023-11", A)[0], f"11月/{A}.xlsx", dt.datetime(2023, 12, 2, 9))
    b_file = d.drop(d.fill("2023-11", B)[0], f"11月/{B}.xlsx", dt.datetime(2023, 12, 2, 9))
    d.drop(d.fill("2023-11", C, bad=True)[0], f"11月/{C}.xlsx", dt.datetime(2023, 12, 2, 9))
    nov = d.consolidate("2023-11")
    assert nov["accepted"] == [A, B] and nov["rejected"] == [C]
    assert nov["other_periods"] == {"2023-10": 4}                    # counted, not listed
    assert d.statuses(nov, C) == {"沿用2023-10"}
    b_file.unlink()
    nov = d.consolidate("2023-11")
    assert B in nov["missing"] and d.statuses(nov, B) == {"沿用2023-10"}

    # December: A is accepted, then resubmits a bad return (rejected: nothing of A stands for December)
    d.generate("2023-12")
    dec_c = dict(demo.rows_of(openpyxl.load_workbook(d.root / "templates/shengsi/2023-12" / f"{C}.xlsx"),
                              "indicators"))
    first = next(iter(dec_c))
    with Ledger(d.root / "consolidated/shengsi/ledger.sqlite") as ledger:
        history = ledger.history("shengsi", C, "indicators", first)
    assert [p for p, _v in history] == ["2023-10"]                   # November's was rejected
    assert dec_c[first]["actual"] == history[0][1]["actual"]          # December carries October's
    d.drop(d.fill("2023-12", A)[0], f"12月/{A}.xlsx", dt.datetime(2024, 1, 2, 9))
    assert d.consolidate("2023-12")["accepted"] == [A]
    d.drop(d.fill("2023-12", A, bad=True)[0], f"12月/{A}-重报.xlsx", dt.datetime(2024, 1, 3, 9))
    dec = d.consolidate("2023-12")
    assert dec["rejected"] == [A] and d.statuses(dec, A) == {"沿用2023-11"}

    # January: A skips it; year-to-date values never cross the year
    d.generate("2024-01")
    d.drop(d.fill("2024-01", B)[0], f"1月/{B}.xlsx", dt.datetime(2024, 2, 2, 9))
    jan = d.consolidate("2024-01")
    a_rows = [r for r in d.master(jan, "主要指标") if r["填报单位"] == A]
    assert {r["数据期次"] for r in a_rows} == {"沿用2023-11"}
    assert all(r["本年累计完成"] is None for r in a_rows)

    # B's December return, with a new problem, comes in late, after January was consolidated
    wb, key = d.fill("2023-12", B, problem="海岛供水管网老化")
    d.drop(wb, f"12月/{B}-补报.xlsx", dt.datetime(2024, 2, 5, 9))
    dec = d.consolidate("2023-12")
    assert B in dec["accepted"] and B in dec["late"]
    jan = d.consolidate("2024-01")                                   # a re-run: B's January still stands
    assert B in jan["accepted"] and jan["findings"]["错误"] == 0
    problems = [r for r in d.master(jan, "问题销号") if r["问题描述"] == "海岛供水管网老化"]
    assert [(p["填报单位"], p["数据期次"]) for p in problems] == [(B, "沿用2023-12")]

    # February and March: the problem is in B's templates until it is closed
    d.generate("2024-02")
    feb_b = openpyxl.load_workbook(d.root / "templates/shengsi/2024-02" / f"{B}.xlsx")
    assert dict(demo.rows_of(feb_b, "problems"))[key]["description"] == "海岛供水管网老化"
    wb = demo.open_template(d.root / "templates/shengsi/2024-02" / f"{B}.xlsx")
    demo.fill_correctly(wb, _period("2024-02"), d.rng)
    demo.set_cell(wb, "problems", key, "state", "已销号")
    demo.set_cell(wb, "problems", key, "closed", dt.date(2024, 2, 20))
    d.drop(wb, f"2月/{B}.xlsx", dt.datetime(2024, 3, 2, 9))
    feb = d.consolidate("2024-02")
    assert feb["accepted"] == [B]
    closed = [r for r in d.master(feb, "问题销号") if r["问题描述"] == "海岛供水管网老化"]
    assert [c["销号状态"] for c in closed] == ["已销号"]
    d.generate("2024-03")
    mar_b = openpyxl.load_workbook(d.root / "templates/shengsi/2024-03" / f"{B}.xlsx")
    assert key not in dict(demo.rows_of(mar_b, "problems"))
    mar = d.consolidate("2024-03")
    assert mar["returned"] == 0 and "2024-02" in mar["other_periods"]

    # nothing about an earlier period changed later: November's master still says what stood then
    nov_again = json.loads((d.root / "consolidated/shengsi/2023-11/汇总结果.json").read_text(encoding="utf-8"))
    assert nov_again["accepted"] == [A] and B in nov_again["missing"]
    # and the bulletins of both quarters agree with the masters of their last months
    for quarter, last in (("2023Q4", dec), ("2024Q1", mar)):
        d.cli("bulletin", "--spec", "specs/shengsi", "--quarter", quarter)
        from workbook_tool.bulletin import Quarter, gather
        from workbook_tool.desk import Desk as OfficeDesk
        from workbook_tool.spec import load_spec
        data = gather(OfficeDesk(d.root), load_spec(d.root / "specs/shengsi"), Quarter.parse(quarter))
        overview = openpyxl.load_workbook(last["master"], data_only=True)["总览"]
        headers = [c.value for c in overview[3]]
        total = [r for r in overview.iter_rows(min_row=4, values_only=True) if r[1] == "合计"][0]
        assert data.totals["light_none"] == total[headers.index("指标未报")]
