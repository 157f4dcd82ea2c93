"""The command line: parse, call the library, render, exit. Nothing else."""
from __future__ import annotations

import functools
import json
import os
import sqlite3
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence, TypeVar, Union

import click

from . import __version__, cli_zh
from .desk import Desk, DeskError, Period
from .spec import SpecError, load_spec, spec_as_json

if TYPE_CHECKING:
    from .bulletin import Quarter
    from .findings import Finding
    from .spec import Spec

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

cli_zh.install()           # click's own messages (usage errors, --help headings) in Chinese


MAX_JOBS = 61        # Windows' limit for a process pool (it waits on at most 63 handles)


def root_option(fn: F) -> F:
    return click.option("--root", type=click.Path(file_okay=False), default=".", show_default=True, metavar="DIR",
                        help="办公桌文件夹（specs/、templates/、inbox/、consolidated/ 所在处）/ desk folder.")(fn)


def spec_option(fn: F) -> F:
    return click.option("--spec", "spec_path", metavar="DIR",
                        help="县规格文件夹，如 specs/shengsi / the county's spec folder.")(fn)


def on_desk(fn: Callable[..., T]) -> Callable[..., T]:
    """--spec and --root for a command that works on a county's desk: it gets the Desk and the Spec,
    built here once (a spec with problems ends the command with every problem listed)."""
    @spec_option
    @root_option
    @functools.wraps(fn)
    def wrapper(*args: Any, spec_path: Optional[str] = None, root: str = ".", **kwargs: Any) -> T:
        desk = Desk(root)
        return fn(*args, desk=desk, spec=load_spec(desk.spec_folder(spec_path)), **kwargs)
    return friendly(wrapper)


class PeriodType(click.ParamType):
    """YYYY-MM → Period; a malformed period (2023-13, 202305) is a usage error (exit status 2)."""

    name = "period"

    def convert(self, value: Union[str, Period], param: Optional[click.Parameter],
                ctx: Optional[click.Context]) -> Period:
        if isinstance(value, Period):
            return value
        try:
            return Period.parse(value)
        except DeskError as exc:
            self.fail(str(exc), param, ctx)


class QuarterType(click.ParamType):
    """YYYYQn → Quarter (a usage error when malformed)."""

    name = "quarter"

    def convert(self, value: Union[str, Quarter], param: Optional[click.Parameter],
                ctx: Optional[click.Context]) -> Quarter:
        from .bulletin import Quarter
        if isinstance(value, Quarter):
            return value
        try:
            return Quarter.parse(value)
        except DeskError as exc:
            self.fail(str(exc), param, ctx)


def period_option(fn: F) -> F:
    return click.option("--period", required=True, metavar="YYYY-MM", type=PeriodType(),
                        help="报送期次，如 2023-05 / reporting period.")(fn)


def _debugging() -> bool:
    """--debug (or WORKBOOK_TOOL_DEBUG=1): an internal error shows its traceback, for the developers."""
    if os.environ.get("WORKBOOK_TOOL_DEBUG", "") not in ("", "0"):
        return True
    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.find_root().params.get("debug"))


def friendly(fn: Callable[..., T]) -> Callable[..., T]:
    """Turn every library error into a clear Chinese message and an exit status; never a traceback."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        except SpecError as exc:
            for problem in exc.problems:
                click.echo(problem, err=True)
            click.echo(f"规格文件有 {len(exc.problems)} 处问题，请按上面的提示修改。", err=True)
            sys.exit(1)
        except DeskError as exc:
            click.echo(f"错误：{exc}", err=True)
            sys.exit(1)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except BrokenPipeError:
            sys.exit(1)
        except (OSError, sqlite3.DatabaseError) as exc:     # the disk, not the program: say what to do
            click.echo(f"错误：{system_problem(exc)}", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("已中断。", err=True)
            sys.exit(130)
        except Exception as exc:  # the last line of defence: no traceback reaches the office
            if _debugging():
                raise
            click.echo(f"程序内部错误（{type(exc).__name__}: {exc}）。请把本条信息发给技术支持。", err=True)
            sys.exit(1)
    return wrapper


def echo_json(obj: object) -> None:
    """JSON on stdout as UTF-8 bytes, whatever the console's code page (cp936, cp437 …) would make of it."""
    text = json.dumps(obj, ensure_ascii=False, indent=2) + "\n"
    out = sys.stdout
    buffer = getattr(out, "buffer", None)
    if buffer is None:                       # a stream without bytes underneath: it takes text as is
        out.write(text)
        return
    out.flush()
    buffer.write(text.encode("utf-8"))
    buffer.flush()


def _tolerant_streams():
    """A console or pipe whose code page lacks a character shows '?' instead of stopping the command."""
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            try:
                stream.reconfigure(errors="replace")
            except (ValueError, OSError):
                pass


def system_problem(exc: Union[OSError, sqlite3.DatabaseError]) -> str:
    """A disk, permission or database error in words the office can act on."""
    import errno
    filename = getattr(exc, "filename", None)
    where = f"（{filename}）" if filename else ""
    code = getattr(exc, "errno", None)
    if code == errno.ENOSPC or "disk is full" in str(exc) or "database or disk is full" in str(exc):
        return f"磁盘空间不足{where}。请清理磁盘、腾出空间后重新运行。"
    if code == errno.EROFS:
        return f"文件夹是只读的{where}，无法写入。请换到可写的文件夹，或取消只读后重新运行。"
    if isinstance(exc, PermissionError) or code in (errno.EACCES, errno.EPERM):
        return f"没有写入权限{where}：文件可能正在 Excel/WPS 中打开，或文件夹是只读的。请关闭文件或修改权限后重新运行。"
    if isinstance(exc, sqlite3.DatabaseError):
        return (f"台账无法读写（{exc}）。请确认 consolidated/ 下的 ledger.sqlite 没有被其他程序占用或损坏；"
                "损坏时可从 consolidated/<县>/备份/ 中最近的备份恢复。")
    return f"读写文件出错{where}（{exc.strerror or exc}）。请检查磁盘和文件夹后重新运行。"


@click.group(cls=cli_zh.Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="workbook-tool")
@click.option("--debug", is_flag=True, envvar="WORKBOOK_TOOL_DEBUG",
              help="内部错误时显示完整的错误信息（供技术支持）/ show the traceback of an internal error.")
def main(debug: bool) -> None:
    """十项重大工程进度表：生成锁定模板、汇总报回文件。

    Progress-table templates and consolidation for a county's ten major projects.

    \b
    每月流程 / monthly cycle:
      workbook-tool generate --spec specs/shengsi --period 2023-05
      （把 templates/ 下的文件发给各单位，报回的文件放进 inbox/）
      workbook-tool consolidate --spec specs/shengsi --period 2023-05
    """
    _tolerant_streams()


@main.command()
@click.argument("county")
@root_option
@friendly
def init(county: str, root: str) -> None:
    """用示例县的规格新建办公桌 / scaffold a desk from an example county (shengsi, yunhe)."""
    from .workflow import init_desk
    target = init_desk(root, county)
    click.echo(f"已建立办公桌：规格在 {target}，工作文件夹 templates/、inbox/、consolidated/ 已就绪。")
    click.echo(f"下一步：workbook-tool check-spec --spec {target}")


@main.command("check-spec")
@click.option("--json", "as_json", is_flag=True, help="输出规范化后的规格 JSON / print the normalised spec as JSON.")
@on_desk
def check_spec(desk: Desk, spec: Spec, as_json: bool) -> None:
    """检查规格文件，列出全部问题 / validate a county's spec and summarise it."""
    from .workflow import spec_summary, spec_warnings
    if as_json:
        echo_json(spec_as_json(spec))
        return
    for line in spec_summary(spec):
        click.echo(line)
    notes = [f"提醒：{line}" for year in spec.years_in_use for line in spec.year_warnings(year)]
    warnings = spec_warnings(spec) + notes
    for line in warnings:
        click.echo(line)
    click.echo("规格检查通过" + (f"（{len(warnings)} 条警告或提醒，见上）。" if warnings else "。"))


@main.command("export-spec")
@click.option("--out", "out_path", required=True, metavar="FILE.xlsx", type=click.Path(dir_okay=False),
              help="写出的工作簿，如 规格-嵊泗.xlsx / the workbook to write.")
@on_desk
def export_spec_command(desk: Desk, spec: Spec, out_path: str) -> None:
    """把整个规格导出为一个工作簿（规格.xlsx）/ write the whole spec as one workbook.

    \b
    导出的工作簿可以代替 YAML 保存规格：把它命名为 规格.xlsx，放进规格文件夹
    （移走 county.yaml 和 projects/），之后各命令都从它读取规格。
    """
    from .spec.export import export_spec
    path = export_spec(spec, Path(out_path))
    click.echo(f"已导出{spec.county}的规格（{len(spec.projects)} 项工程，{len(spec.units)} 个单位）：{path}")
    if (path.parent / "county.yaml").is_file():
        click.echo("注意：这个文件夹里还有 county.yaml。要改用工作簿保存规格，请把工作簿命名为 规格.xlsx，"
                   "放进一个没有 county.yaml 和 projects/ 的规格文件夹，再运行 workbook-tool check-spec 检查。")


@main.command()
@period_option
@click.option("--units", "units", multiple=True, metavar="NAME",
              help="只为这些单位生成（可重复）/ only these units (repeatable).")
@click.option("--mail", is_flag=True, help="同时在 outbox/ 写好发给各单位的邮件 / also write .eml files.")
@click.option("--send", is_flag=True, help="写好后通过 mail.yaml 配置的服务器发出 / send them (implies --mail).")
@click.option("--new-key", is_flag=True,
              help="启用新的签名密钥，此前下发的模板全部作废 / start over with a new signing key.")
@on_desk
def generate(desk: Desk, spec: Spec, period: Period, units: tuple[str, ...], mail: bool, send: bool,
             new_key: bool) -> None:
    """为每个责任单位生成锁定模板和分发清单 / write one locked template per unit."""
    from .workflow import generate_templates
    if new_key:
        click.echo("警告：已启用新的签名密钥。此前下发的所有模板都将无法通过签名校验（F004），"
                   "请重新生成并下发本期全部模板；旧密钥文件已改名保留在原处。", err=True)
    spec, period, out_dir, results = generate_templates(desk, spec, period, units, new_key=new_key)
    click.echo(f"已生成 {len(results)} 个单位的模板（{spec.county} {period.label}）：{out_dir}")
    click.echo(f"分发清单：{out_dir / '分发清单.xlsx'}")
    for line in spec.year_warnings(period.year):
        click.echo(f"提醒：{line}", err=True)
    if mail or send:
        from .mail import mail_for_templates
        written, skipped = mail_for_templates(desk, spec, period, results)
        _report_mail(desk, spec, period, written, skipped, send)


def _report_mail(desk, spec, period, written, skipped, send):
    if written:
        click.echo(f"已写好 {len(written)} 封邮件：{written[0].path.parent}")
    for unit, reason in skipped:
        click.echo(f"  未写邮件：{unit}（{reason}）")
    if send and written:
        from .mail import send_outbox
        results = send_outbox(desk, spec, period, written)
        for out, text, _ok in results:
            click.echo(f"  {out.unit}：{text}")
        failed = [r for r in results if not r[2] and not r[1].startswith("已发送过")]
        if failed:
            click.echo(f"有 {len(failed)} 封邮件未发送，重新运行同一命令即可补发（已发出的不会重复发送）。", err=True)
            sys.exit(1)


@main.command()
@period_option
@click.option("--send", is_flag=True, help="写好后发出 / send them through the configured server.")
@on_desk
def remind(desk: Desk, spec: Spec, period: Period, send: bool) -> None:
    """给退回和未报的单位写（并发出）邮件 / mail feedback to rejected units and reminders to missing ones."""
    from .mail import remind as make
    written, skipped = make(desk, spec, period)
    if not written and not skipped:
        click.echo("没有需要退回或催报的单位。")
    _report_mail(desk, spec, period, written, skipped, send)


@main.command()
@period_option
@click.option("--json", "as_json", is_flag=True, help="以 JSON 输出汇总结果 / print the summary as one JSON object.")
@click.option("--jobs", type=click.IntRange(1, MAX_JOBS), default=None,
              help="并行读取的进程数，默认为 CPU 核数（最多 61）/ worker processes (default: number of cores, at most 61).")
@click.option("--mailbox", type=click.Path(exists=True), default=None,
              help="另从 maildir 文件夹或 mbox 文件读取报回邮件 / also read returns from a maildir or mbox.")
@click.option("--allow-empty", is_flag=True,
              help="inbox/ 为空时也汇总（会清空本期结果）/ consolidate even an empty inbox (clears the period).")
@on_desk
def consolidate(desk: Desk, spec: Spec, period: Period, as_json: bool, jobs: Optional[int], mailbox: Optional[str],
                allow_empty: bool) -> None:
    """识别、校验、合并 inbox/ 中的报回文件，写出县汇总表 / consolidate the inbox."""
    from .consolidate import consolidate as run
    show = not as_json and sys.stderr.isatty()

    def progress(n: int, total: Optional[int], path: str) -> None:
        if show:
            click.echo(f"\r已读取 {n} 个文件……", nl=False, err=True)

    if mailbox is not None:
        desk = desk.with_mailbox(mailbox)
    result = run(desk, spec, period, progress=progress, jobs=jobs or min(os.cpu_count() or 1, MAX_JOBS),
                 allow_empty=allow_empty)
    if show:
        click.echo("", err=True)
    if as_json:
        echo_json(result.summary)
        return
    for line in render_summary(result.summary, result.findings):
        click.echo(line)


def render_summary(summary: dict[str, Any], findings: Sequence[Finding]) -> list[str]:
    lines = [
        f"{summary['county']} {summary['period']} 汇总完成。",
        f"应报 {summary['expected']} 个单位，报送 {summary['returned']} 个，采用 {len(summary['accepted'])} 个，"
        f"退回 {len(summary['rejected'])} 个，未报 {len(summary['missing'])} 个，逾期 {len(summary['late'])} 个。",
        f"发现问题：错误 {summary['findings']['错误']} 处，警告 {summary['findings']['警告']} 处。",
    ]
    if summary["rejected"]:
        lines.append("退回单位：" + "、".join(summary["rejected"]))
    if summary["missing"]:
        lines.append("未报单位：" + "、".join(summary["missing"]))
    if summary["late"]:
        lines.append("逾期单位：" + "、".join(summary["late"]))
    if summary["superseded"]:
        lines.append("重复报送未采用的文件：" + "、".join(summary["superseded"]))
    if summary.get("changed"):
        lines.append("重报替换了已采用报表并改了数的单位（见校验问题 X010）：" + "、".join(summary["changed"]))
    other = summary.get("other_periods") or {}
    if other:
        lines.append(f"另有 {sum(other.values())} 个其他期次（或其他县）的文件，未计入本期：" +
                     "、".join(f"{p} {n} 个" for p, n in other.items()))
        if not summary["returned"]:
            lines.append(f"inbox 中没有 {summary['period']} 的报表，文件属于：" + "、".join(other) +
                         "。请检查 --period 是否写对。")
    unidentified = [f for f in summary["files"] if f["unit"] is None and f["verdict"] == "rejected"]
    for f in unidentified:
        reasons = "；".join(x.message for x in findings if x.file == f["path"])
        lines.append(f"无法采用的文件 {f['path']}：{reasons}")
    lines.append(f"汇总表：{summary['master']}")
    if summary["feedback"]:
        lines.append(f"退回意见（请发回各单位）：{Path(summary['feedback'][0]).parent}")
    return lines


@main.command()
@click.argument("folder", required=False, type=click.Path(file_okay=False))
@friendly
def demo(folder: Optional[str]) -> None:
    """演示：模拟两个月的完整流程 / run two simulated monthly cycles in a new folder.

    FOLDER 默认为当前目录下新建的 demo-desk；已有内容的文件夹不会被覆盖。
    """
    from .demo import run_demo
    target = Path(folder or "demo-desk")
    result = run_demo(target, echo=click.echo)
    last = result["summaries"][-1]
    click.echo(f"演示完成：打开 {last['master']} 查看汇总表；{target} 就是一张办公桌，可以继续用各命令试。")


@main.command()
@click.option("--quarter", required=True, metavar="YYYYQn", type=QuarterType(),
              help="季度，如 2023Q2 / quarter.")
@on_desk
def bulletin(desk: Desk, spec: Spec, quarter: Quarter) -> None:
    """生成季度工作简报（晾晒四张进度表）/ write the quarterly bulletin (.docx)."""
    from .bulletin import make_bulletin, sentences
    spec, data, path = make_bulletin(desk, spec, quarter)
    click.echo(f"{data.quarter.label}工作简报（数据截至{data.period.label}）：{path}")
    for line in sentences(spec, data):
        click.echo("  " + line)


@main.command()
@click.option("--year", required=True, type=click.IntRange(2000, 2100), metavar="YYYY",
              help="计划年度，如 2024 / plan year.")
@click.option("--collect", is_flag=True,
              help="汇总 inbox/ 中报回的年度计划表并写入规格 / collect returned plans into the spec.")
@on_desk
def plan(desk: Desk, spec: Spec, year: int, collect: bool) -> None:
    """年度计划：给牵头单位生成年度计划表，或汇总报回的计划写入规格 / annual plans: issue or collect.

    \b
    workbook-tool plan --spec specs/yunhe --year 2024            生成 templates/<县>/plan-2024/
    workbook-tool plan --spec specs/yunhe --year 2024 --collect  汇总 inbox/，写入规格和计划汇总报告
    """
    from .annual_plan import generate_plans
    from .plan_collect import collect_plans, report_lines
    if not collect:
        spec, out_dir, results = generate_plans(desk, spec, year)
        click.echo(f"已生成 {len(results)} 个牵头单位的 {year} 年度计划表（{spec.county}）：{out_dir}")
        click.echo("请发给各牵头单位；报回的文件放进 inbox/ 后运行："
                   f"workbook-tool plan --year {year} --collect")
        return
    result = collect_plans(desk, spec, year)
    for line in report_lines(result):
        click.echo(line)
    click.echo(f"计划汇总报告：{result.report}")


@main.command()
@period_option
@on_desk
def status(desk: Desk, spec: Spec, period: Period) -> None:
    """查看本期报送情况（不写汇总表）/ who has returned, who has not, open findings."""
    from .workflow import status_report
    for line in status_report(desk, spec, period):
        click.echo(line)


if __name__ == "__main__":  # pragma: no cover
    main()
