import json

from click.testing import CliRunner

from workbook_tool.cli import main


def test_demo_runs_two_months_and_refuses_a_non_empty_folder(tmp_path):
    target = tmp_path / "demo-desk"
    result = CliRunner().invoke(main, ["demo", str(target)])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    may = json.loads((target / "consolidated/shengsi/2023-05/汇总结果.json").read_text(encoding="utf-8"))
    june = json.loads((target / "consolidated/shengsi/2023-06/汇总结果.json").read_text(encoding="utf-8"))
    # as simulated: three units made blocking mistakes, one never returned, one returned twice, one late
    assert len(may["rejected"]) == 3 and len(may["missing"]) == 1 and len(may["late"]) == 1
    assert len(may["superseded"]) == 1
    assert may["findings"]["警告"] >= 1            # full-width digits were read, with a warning
    assert len(may["accepted"]) == may["expected"] - 4
    kinds = {f["path"].split("!")[0].rsplit(".", 1)[-1] for f in may["files"]}
    assert {"zip", "eml"} <= kinds
    # June: carry-forward works; a cumulative value that went down is refused
    assert len(june["rejected"]) == 1 and june["missing"] == may["missing"]
    codes = [c for f in june["files"] if f["verdict"] == "rejected" for c in f["codes"]]
    assert "X004" in codes
    assert "演示完成" in result.output.splitlines()[-1]
    again = CliRunner().invoke(main, ["demo", str(target)])
    assert again.exit_code == 1 and "不是空文件夹" in again.output


def test_init_refuses_to_overwrite_and_names_the_choices(tmp_path):
    runner = CliRunner()
    assert runner.invoke(main, ["init", "shengsi", "--root", str(tmp_path)]).exit_code == 0
    again = runner.invoke(main, ["init", "shengsi", "--root", str(tmp_path)])
    assert again.exit_code == 1 and "已存在" in again.output
    unknown = runner.invoke(main, ["init", "atlantis", "--root", str(tmp_path)])
    assert unknown.exit_code == 1 and "shengsi" in unknown.output and "yunhe" in unknown.output
