"""The README documents every command and every rule code; every command has help."""
import pytest
from click.testing import CliRunner

from workbook_tool.cli import main
from workbook_tool.findings import RULES

from conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(main.commands))
def test_command_has_help_and_is_documented(name):
    command = main.commands[name]
    assert command.help and len(command.help) > 10
    assert f"`workbook-tool {name}" in README
    result = CliRunner().invoke(main, [name, "--help"])
    assert result.exit_code == 0 and "用法：" in result.output and "Usage" not in result.output


@pytest.mark.parametrize("code", sorted(RULES))
def test_rule_code_is_documented(code):
    assert f"| {code} | {RULES[code].severity} |" in README


def test_readme_first_screen_has_the_two_commands():
    first = README.split("\n## ")[0]
    assert "pip install -e '.[test]' && workbook-tool demo" in first
    assert "python3 -m pytest" in first


def test_ci_runs_the_readme_test_command():
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert "python3 -m pytest -q" in ci and "pip install -q -e '.[test]'" in ci


def test_version_option():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and "workbook-tool" in result.output


def test_spec_problem_code_is_documented():
    from workbook_tool.spec import CATALOGUE
    for code, problem in CATALOGUE.items():
        assert f"| {code} | {problem.title} |" in README, code
