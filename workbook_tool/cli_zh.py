"""Chinese for click's own messages: usage errors, --help headings, prompts.

click marks its messages for gettext (``from gettext import gettext as _`` in each module),
which translates through the process-wide "messages" domain and the LANGUAGE/LANG variables
of the environment. An office PC running Windows sets neither, and a process-wide domain
would reach every other library too. So the tool installs a catalog object of its own into
click's modules: each module's ``_`` and ``ngettext`` become this catalog's methods. A test
checks that every msgid below still occurs in the installed click, so a click release that
rewords a message is noticed rather than silently left in English.
"""
from __future__ import annotations

import gettext
import importlib
from typing import Any, Iterable, Mapping, Optional, Union

import click

ZH = {
    # usage errors (exit status 2)
    "Error: {message}": "错误：{message}",
    "Missing argument": "缺少参数",
    "Missing option": "缺少选项",
    "Missing parameter": "缺少参数",
    "Missing {param_type}": "缺少{param_type}",
    "Missing parameter: {param_name}": "缺少参数：{param_name}",
    "Missing command.": "缺少命令。",
    "No such command {name!r}.": "没有 {name!r} 这个命令。",
    "No such option {name!r}.": "没有 {name!r} 这个选项。",
    "Did you mean {possibility}?": "是不是要用 {possibility}？",
    "(Did you mean one of: {possibilities}?)": "（是不是要用其中之一：{possibilities}？）",
    "Try '{command} {option}' for help.": "运行 '{command} {option}' 查看用法。",
    "Invalid value for {param_hint}: {message}": "{param_hint} 的值无效：{message}",
    "Invalid value: {message}": "值无效：{message}",
    "Option {name!r} does not take a value.": "选项 {name!r} 后面不能带值。",
    "Option {name!r} requires an argument.": "选项 {name!r} 后面要写一个值。",
    "Option {name!r} requires {nargs} arguments.": "选项 {name!r} 后面要写 {nargs} 个值。",
    "Argument {name!r} takes {nargs} values.": "参数 {name!r} 需要 {nargs} 个值。",
    "Got unexpected extra argument ({args})": "多出了不认识的参数（{args}）",
    "Got unexpected extra arguments ({args})": "多出了不认识的参数（{args}）",
    "Invalid start character for option ({option})": "选项的开头字符不对（{option}）",
    "unknown error": "未知错误",
    "Aborted!": "已中止。",
    # values of the wrong kind
    "{value!r} is not {choice}.": "{value!r} 不是可选值 {choice}。",
    "{value!r} is not one of {choices}.": "{value!r} 不在可选值 {choices} 之中。",
    "{value!r} is not a valid {number_type}.": "{value!r} 不是有效的{number_type}。",
    "{value} is not in the range {range}.": "{value} 不在范围 {range} 之内。",
    "{value!r} is not a valid boolean. Recognized values: {states}": "{value!r} 不是是/否值，可写：{states}",
    "{name} {filename!r} does not exist.": "{name} {filename!r} 不存在。",
    "{name} {filename!r} is a file.": "{name} {filename!r} 是文件，这里要的是文件夹。",
    "{name} {filename!r} is a directory.": "{name} {filename!r} 是文件夹，这里要的是文件。",
    "{name} {filename!r} is not readable.": "{name} {filename!r} 没有读取权限。",
    "{name} {filename!r} is not writable.": "{name} {filename!r} 没有写入权限。",
    "{name} {filename!r} is not executable.": "{name} {filename!r} 不能执行。",
    "Could not open file {filename!r}: {message}": "无法打开文件 {filename!r}：{message}",
    "file": "文件",
    "directory": "文件夹",
    "path": "路径",
    "Choose from:\n\t{choices}": "可选：\n\t{choices}",
    # --help
    "Usage:": "用法：",
    "Options": "选项",
    "Commands": "命令",
    "Show this message and exit.": "显示本帮助并退出。",
    "Show the version and exit.": "显示版本号并退出。",
    "%(prog)s, version %(version)s": "%(prog)s，版本 %(version)s",
    "default: {default}": "默认：{default}",
    "required": "必填",
    "env var: {var}": "环境变量：{var}",
    "deprecated": "已停用",
    # prompts
    "Do you want to continue?": "是否继续？",
    "Confirm the action without prompting.": "不再询问，直接执行。",
    "Repeat for confirmation": "再输入一次以确认",
    "Error: The two entered values do not match.": "错误：两次输入的值不一致。",
    "Error: invalid input": "错误：输入无效",
    "Press any key to continue...": "按任意键继续……",
}

MODULES = ("core", "decorators", "exceptions", "formatting", "parser", "types", "termui", "utils")


class Catalog(gettext.NullTranslations):
    """A gettext catalog held in a dict; untranslated messages pass through unchanged."""

    def __init__(self, messages: Union[Mapping[str, str], Iterable[tuple[str, str]]]) -> None:
        super().__init__()
        self.messages = dict(messages)

    def gettext(self, message: str) -> str:
        return self.messages.get(message, message)

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        return self.gettext(msgid1 if n == 1 else msgid2)


CATALOG = Catalog(ZH)


def install() -> None:
    """Make click speak Chinese (idempotent)."""
    for name in MODULES:
        module = importlib.import_module(f"click.{name}")
        if hasattr(module, "_"):
            setattr(module, "_", CATALOG.gettext)
        if hasattr(module, "ngettext"):
            setattr(module, "ngettext", CATALOG.ngettext)


class HelpFormatter(click.HelpFormatter):
    """Headings and the usage line with Chinese punctuation: "选项：", "用法：workbook-tool …"."""

    def write_usage(self, prog: str, args: str = "", prefix: Optional[str] = None) -> None:
        super().write_usage(prog, args, "用法：" if prefix is None else prefix)

    def write_heading(self, heading: str) -> None:
        self.write(f"{'':>{self.current_indent}}{heading}：\n")


class Context(click.Context):
    formatter_class = HelpFormatter


class Command(click.Command):
    """A command whose usage line reads "用法：workbook-tool generate [选项]"."""

    context_class = Context

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("options_metavar", "[选项]")
        super().__init__(*args, **kwargs)


class Group(click.Group):
    """The main group: Chinese usage line; its subcommands are :class:`Command`."""

    context_class = Context
    command_class = Command

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("options_metavar", "[选项]")
        kwargs.setdefault("subcommand_metavar", "命令 [参数]...")
        super().__init__(*args, **kwargs)
