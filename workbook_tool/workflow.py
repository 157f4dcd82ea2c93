"""Desk-level operations behind the CLI: init, check-spec, generate, status."""
from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Sequence, Union

from . import history, signing
from .desk import Desk, DeskError, Period, check_period
from .ledger import (check_key, check_ledger, issued_before, open_ledger, record_fingerprint,
                     stored_fingerprint)
from .spec import Spec
from .tables import TABLES
from .standing import earlier_years
from .carry import unit_rows
from .distribution import write_distribution
from .template import generate

if TYPE_CHECKING:
    from .rows import Row

# the example counties ship inside the package (package data), so init and demo work from any install
EXAMPLES = Path(__file__).resolve().parent / "examples"
WORKING_READMES = {
    "templates": "# templates/\n\n`workbook-tool generate` 生成的模板放在这里（templates/<县>/<期次>/）。本文件夹内容不入库。\n",
    "inbox": "# inbox/\n\n把各单位报回的文件（xlsx、xls、ods、zip、eml）原样放进来，子文件夹、文件名都不限。\n",
    "consolidated": "# consolidated/\n\n`workbook-tool consolidate` 的输出：汇总表、退回意见、台账 ledger.sqlite。\n",
}


def example_counties() -> list:
    return sorted(p.parent.name for p in EXAMPLES.glob("*/county.yaml"))


def init_desk(root: Union[str, Path], county: str) -> Path:
    """Scaffold a desk: the example county's spec and the working folders."""
    source = EXAMPLES / county
    if not (source / "county.yaml").is_file():
        choices = "、".join(example_counties()) or "（无）"
        raise DeskError(f"没有名为 {county!r} 的示例县。可选：{choices}。")
    desk = Desk(root)
    target = desk.root / "specs" / county
    if target.exists():
        raise DeskError(f"{target} 已存在，未做任何修改。如需重建，请先移走该文件夹。")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
    for folder, text in WORKING_READMES.items():
        (desk.root / folder).mkdir(parents=True, exist_ok=True)
        readme = desk.root / folder / "README.md"
        if not readme.exists():
            readme.write_text(text, encoding="utf-8")
    return target


def spec_summary(spec: Spec) -> list[str]:
    lines = [f"{spec.county}（{spec.code}）：{len(spec.projects)} 项工程，{len(spec.units)} 个单位，"
             f"{len(spec.responsible_units)} 个单位需填报；进度表：" +
             "、".join(TABLES[t].title for t in spec.tables)]
    for p in spec.projects:
        lines.append(f"  {p.no:>2}. {p.name}：牵头 {'、'.join(p.lead_units)}；责任单位 {len(p.units)} 个；"
                     f"指标 {len(p.indicators)} 项；重点任务 {len(p.tasks)} 项"
                     + (f"；重大项目 {len(p.major_projects)} 个" if p.major_projects else ""))
    return lines


def spec_warnings(spec: Spec) -> list[str]:
    """What check-spec warns about without failing: placeholders and missing e-mail addresses."""
    from .spec import is_placeholder
    out = []
    office = [f"{label}“{value}”" for label, value in (("联系人", spec.office_contact), ("电话", spec.office_phone),
                                                       ("邮箱", spec.office_email)) if is_placeholder(value)]
    if office:
        out.append(f"警告：办公室的{'、'.join(office)}还是占位文字，模板的填报说明上不会印出，单位看不到联系方式。"
                   f"请在 {_place(spec, 'county.yaml 的 office:', '县设置')} 下填写实际的联系人、电话和邮箱。")
    placeholders = [u.name for u in spec.units if any(is_placeholder(x) for x in (u.contact, u.phone, u.email))]
    if placeholders:
        out.append(f"警告：{len(placeholders)} 个单位的联系信息是占位文字（{_some(placeholders)}），"
                   f"请在 {_place(spec, 'county.yaml 的 units:', '单位')} 下填写实际内容。")
    missing = [u for u in spec.responsible_units if not spec.unit(u).email]
    if missing:
        out.append(f"警告：{len(missing)} 个需填报单位没有邮箱地址（{_some(missing)}）："
                   "generate --mail 不会给它们写邮件，报回邮件也无法核对发件人。"
                   f"请在 {_place(spec, 'county.yaml 的 units:', '单位')} 下补上 email。")
    return out


def _place(spec, in_yaml: str, sheet: str) -> str:
    """Where the office changes a setting: in the YAML files, or in 规格.xlsx."""
    folder = Path(spec.folder)
    if (folder / "规格.xlsx").is_file() and not (folder / "county.yaml").is_file():
        return f"规格.xlsx 的「{sheet}」表"
    return in_yaml


def _some(names, shown=5) -> str:
    return "、".join(names[:shown]) + (" 等" if len(names) > shown else "")


def generate_templates(desk: Desk, spec: Spec, period: Period, units: Optional[Sequence[str]] = None,
                       new_key: bool = False
                       ) -> tuple[Spec, Period, Path, list[tuple[str, Path, dict, dict[str, list[Row]]]]]:
    """Write the period's templates (all units, or ``units``) and the 分发清单; record them in the ledger.

    → (spec, period, out_dir, [(unit, path, meta, rows)])."""
    check_period(spec, period)
    if units:
        unknown = []
        resolved = []
        for name in units:
            canonical = spec.resolve(name)
            if canonical is None or canonical not in spec.responsible_units:
                unknown.append(name)
            else:
                resolved.append(canonical)
        if unknown:
            raise DeskError("这些单位不需要填报或不在名录中：" + "、".join(unknown))
        units = resolved
    key = signing_key_for_generate(desk, spec.code, new_key)
    out_dir = desk.templates(spec.code, period)
    with open_ledger(desk, spec.code) as ledger:
        carry_for = lambda unit: ledger.carry(spec.code, unit, str(period))  # noqa: E731
        past_for = lambda unit: earlier_years(ledger, spec, unit, period.year)  # noqa: E731
        results = generate(spec, period, out_dir, key, units=units, carry_for=carry_for, past_for=past_for)
        with ledger.transaction():
            record_fingerprint(ledger, signing.fingerprint(key))
            for unit, path, meta, _rows in results:
                ledger.record_issued(spec.code, str(period), unit, meta["nonce"], path.name)
            history.record(ledger, spec, period, Path(spec.folder))
        if units:
            # the list keeps every unit issued a template this period, not just those regenerated now
            issued = ledger.issued_units(spec.code, str(period))
            fresh = {r[0] for r in results}
            listed = list(results) + [
                (u, out_dir / issued[u], None, unit_rows(spec, u, period, carry_for(u), *past_for(u)))
                for u in spec.responsible_units if u in issued and u not in fresh]
            order = {u: i for i, u in enumerate(spec.responsible_units)}
            listed.sort(key=lambda r: order.get(r[0], len(order)))
            write_distribution(spec, period, listed, out_dir / "分发清单.xlsx")
    return spec, period, out_dir, results


def signing_key_for_generate(desk: Desk, code: str, new_key: bool = False) -> bytes:
    """The key to sign with. Never a new one, silently, where templates were issued under another:
    that needs ``new_key`` (generate --new-key), which starts over (earlier templates fail F004)."""
    check_ledger(desk, code)
    ledger_path = desk.ledger_path(code)
    stored = stored_fingerprint(ledger_path)
    key = signing.load_key(desk.secret_path, create=False)
    if new_key:
        if key and not os.environ.get(signing.ENV_KEY) and desk.secret_path.is_file():
            aside = desk.secret_path.with_name(f"{desk.secret_path.name}.old-{dt.datetime.now():%Y%m%d-%H%M%S}")
            desk.secret_path.replace(aside)
        return signing.load_key(desk.secret_path, create=True)
    if not key:
        if stored or issued_before(ledger_path):
            raise DeskError(
                f"找不到签名密钥 {desk.secret_path}，而本办公桌已用另一把密钥下发过模板"
                f"{f'（指纹 {stored}）' if stored else ''}。新建密钥会让已下发的模板全部无法汇总。"
                f"请从备份恢复 {desk.secret_path}（或设置环境变量 {signing.ENV_KEY}）后重试；"
                "如确需作废全部已下发模板、从头开始，请运行 generate --new-key。")
        return signing.load_key(desk.secret_path, create=True)
    check_key(desk, code, key)
    return key


def status_report(desk: Desk, spec: Spec, period: Period, now: Optional[dt.datetime] = None) -> list[str]:
    """Lines saying who has returned, who has not, and why a return cannot be used.

    Writes nothing but the first-seen times of files new to the desk (their received time).
    """
    from .consolidate import _RunLock, assess, recover_outputs
    from .feedback import plain_place
    from .findings import ERROR
    check_period(spec, period)
    key = signing.load_key(desk.secret_path, create=False)
    if not key:
        raise DeskError("找不到签名密钥。请在生成模板的同一办公桌上运行。")
    ledger_path = desk.ledger_path(spec.code)
    if not ledger_path.exists():
        check_ledger(desk, spec.code)
        raise DeskError(f"还没有 {spec.county} 的台账：请先生成模板（workbook-tool generate）。")
    check_key(desk, spec.code, key)
    with _RunLock(desk.consolidated(spec.code) / ".lock"), open_ledger(desk, spec.code) as ledger:
        recover_outputs(ledger, spec, period, desk.consolidated(spec.code, period))
        spec = history.spec_for_period(ledger, spec, period)
        a = assess(desk, spec, period, key, ledger, now=now)
        deadline = period.deadline(spec.deadline_day)
        lines = [f"{spec.county} {period.label}：应报 {len(spec.responsible_units)} 个单位，"
                 f"收到 {len(a.winners)} 个，可采用 {len(a.accepted)} 个，需退回 {len(a.rejected)} 个，"
                 f"截止 {deadline.isoformat()}。"]
        for unit in spec.responsible_units:
            e = a.winners.get(unit)
            if e is None:
                earlier = ledger.latest_period(spec.code, unit, str(period))
                note = f"（台账中已有 {earlier} 的数据）" if earlier else ""
                lines.append(f"  未报  {unit}{note}")
                continue
            errors = [f for f in e.findings if f.severity == ERROR]
            late = "，逾期" if e.received.date() > deadline else ""
            state = "需退回" if errors else "可采用"
            lines.append(f"  {state}  {unit}（{e.path}，收到 {e.received:%Y-%m-%d %H:%M}{late}）")
            for f in errors:
                lines.append(f"      {plain_place(f)}：{f.message}")
        for e in a.entries:
            if e.unit is None and e.verdict != "skipped":
                reason = "；".join(f.message for f in e.findings) or "无法识别"
                lines.append(f"  无法识别  {e.path}：{reason}")
        other = a.other_periods
        if other:
            lines.append(f"  另有 {sum(other.values())} 个其他期次的文件（"
                         + "、".join(f"{p}：{n} 个" for p, n in other.items()) + "），不计入本期。")
        if not a.winners and other:
            lines.append(f"  inbox 中没有 {period} 的报表；文件属于：" + "、".join(other) + "。请检查 --period。")
    return lines
