"""The CLI is a thin layer: objects built once, usage errors exit 2 in Chinese, --debug shows a traceback."""
from click.testing import CliRunner

from workbook_tool import workflow
from workbook_tool.cli import main


def cli(*args, **kw):
    return CliRunner().invoke(main, [str(a) for a in args], **kw)


def test_a_malformed_period_is_a_usage_error(may):
    for bad in ("2023-13", "202305", "May"):
        result = cli("status", "--root", may.root, "--period", bad)
        assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert "月份 13 不存在" in cli("status", "--root", may.root, "--period", "2023-13").output


def test_a_period_outside_the_plan_is_the_librarys_refusal(may):
    result = cli("status", "--root", may.root, "--period", "2031-05")
    assert result.exit_code == 1 and "规划年度" in result.output


def test_an_internal_error_is_one_chinese_line_unless_debugging(may, monkeypatch):
    def broken(*args, **kw):
        raise RuntimeError("boom")
    monkeypatch.setattr(workflow, "status_report", broken)
    result = cli("status", "--root", may.root, "--period", "2023-05")
    assert result.exit_code == 1 and "程序内部错误" in result.output and "Traceback" not in result.output
    result = cli("--debug", "status", "--root", may.root, "--period", "2023-05")
    assert isinstance(result.exception, RuntimeError)               # the traceback reaches the developer
    monkeypatch.setenv("WORKBOOK_TOOL_DEBUG", "1")
    assert isinstance(cli("status", "--root", may.root, "--period", "2023-05").exception, RuntimeError)


def test_the_spec_is_loaded_once_per_command(may, monkeypatch):
    import workbook_tool.cli as cli_module
    calls = []
    real = cli_module.load_spec
    monkeypatch.setattr(cli_module, "load_spec", lambda folder: calls.append(folder) or real(folder))
    assert cli("generate", "--root", may.root, "--period", "2023-05", "--units", "县发改局").exit_code == 0
    assert len(calls) == 1
