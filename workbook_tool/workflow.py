"""Desk-level operations behind the CLI: init, check-spec, generate, status."""
from __future__ import annotations

import shutil
from pathlib import Path

from . import signing
from .desk import Desk, DeskError, Period
from .ledger import Ledger
from .spec import load_spec
from .tables import TABLES
from .template import generate

EXAMPLES = Path(__file__).resolve().parent.parent / "specs"
WORKING_READMES = {
    "templates": "# templates/\n\n`workbook-tool generate` 生成的模板放在这里（templates/<县>/<期次>/）。本文件夹内容不入库。\n",
    "inbox": "# inbox/\n\n把各单位报回的文件（xlsx、xls、ods、zip、eml）原样放进来，子文件夹、文件名都不限。\n",
    "consolidated": "# consolidated/\n\n`workbook-tool consolidate` 的输出：汇总表、退回意见、台账 ledger.sqlite。\n",
}


def example_counties() -> list:
    return sorted(p.parent.name for p in EXAMPLES.glob("*/county.yaml"))


def init_desk(root, county: str) -> Path:
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


def spec_summary(spec) -> list:
    lines = [f"{spec.county}（{spec.code}）：{len(spec.projects)} 项工程，{len(spec.units)} 个单位，"
             f"{len(spec.responsible_units)} 个单位需填报；进度表：" +
             "、".join(TABLES[t].title for t in spec.tables)]
    for p in spec.projects:
        lines.append(f"  {p.no:>2}. {p.name}：牵头 {'、'.join(p.lead_units)}；责任单位 {len(p.units)} 个；"
                     f"指标 {len(p.indicators)} 项；重点任务 {len(p.tasks)} 项"
                     + (f"；重大项目 {len(p.major_projects)} 个" if p.major_projects else ""))
    return lines


def spec_warnings(spec) -> list:
    """What check-spec warns about without failing: placeholders and missing e-mail addresses."""
    from .spec import is_placeholder
    out = []
    office = [f"{label}“{value}”" for label, value in (("联系人", spec.office_contact), ("电话", spec.office_phone),
                                                       ("邮箱", spec.office_email)) if is_placeholder(value)]
    if office:
        out.append(f"警告：办公室的{'、'.join(office)}还是占位文字，模板的填报说明上不会印出，单位看不到联系方式。"
                   "请在 county.yaml 的 office: 下填写实际的联系人、电话和邮箱。")
    placeholders = [u.name for u in spec.units if any(is_placeholder(x) for x in (u.contact, u.phone, u.email))]
    if placeholders:
        out.append(f"警告：{len(placeholders)} 个单位的联系信息是占位文字（{_some(placeholders)}），"
                   "请在 county.yaml 的 units: 下填写实际内容。")
    missing = [u for u in spec.responsible_units if not spec.unit(u).email]
    if missing:
        out.append(f"警告：{len(missing)} 个需填报单位没有邮箱地址（{_some(missing)}）："
                   "generate --mail 不会给它们写邮件，报回邮件也无法核对发件人。"
                   "请在 county.yaml 的 units: 下补上 email。")
    return out


def _some(names, shown=5) -> str:
    return "、".join(names[:shown]) + (" 等" if len(names) > shown else "")


def generate_templates(root, spec_option, period_text, units=None):
    desk = Desk(root)
    spec = load_spec(desk.spec_folder(spec_option))
    period = Period.parse(period_text)
    _check_period(spec, period)
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
    key = signing.load_key(desk.secret_path)
    out_dir = desk.templates(spec.code, period)
    with Ledger(desk.ledger_path(spec.code)) as ledger:
        results = generate(spec, period, out_dir, key, units=units,
                           carry_for=lambda unit: ledger.carry(spec.code, unit, str(period)))
        with ledger.transaction():
            for unit, path, meta, _rows in results:
                ledger.record_issued(spec.code, str(period), unit, meta["nonce"], path.name)
    return spec, period, out_dir, results


def _check_period(spec, period):
    y0, y1 = spec.plan_years
    if not y0 <= period.year <= y1:
        raise DeskError(f"期次 {period} 不在规划年度 {y0}—{y1} 内。")


def status_report(root, spec_option, period_text) -> list:
    """Lines saying who has returned, who has not, and open findings; writes nothing."""
    from .consolidate import assess
    from .findings import ERROR
    desk = Desk(root)
    spec = load_spec(desk.spec_folder(spec_option))
    period = Period.parse(period_text)
    key = signing.load_key(desk.secret_path, create=False)
    if not key:
        raise DeskError("找不到签名密钥。请在生成模板的同一办公桌上运行。")
    ledger_path = desk.ledger_path(spec.code)
    if not ledger_path.exists():
        raise DeskError(f"还没有 {spec.county} 的台账：请先生成模板（workbook-tool generate）。")
    with Ledger(ledger_path) as ledger:
        entries, winners, accepted, rejected = assess(desk, spec, period, key, ledger)
        deadline = period.deadline(spec.deadline_day)
        lines = [f"{spec.county} {period.label}：应报 {len(spec.responsible_units)} 个单位，"
                 f"收到 {len(winners)} 个，可采用 {len(accepted)} 个，需退回 {len(rejected)} 个，"
                 f"截止 {deadline.isoformat()}。"]
        for unit in spec.responsible_units:
            e = winners.get(unit)
            if e is None:
                earlier, _rows = ledger.latest_accepted(spec.code, unit, str(period))
                note = f"（台账中已有 {earlier} 的数据）" if earlier else ""
                lines.append(f"  未报  {unit}{note}")
                continue
            errors = [f for f in e.findings if f.severity == ERROR]
            late = "，逾期" if e.received.date() > deadline else ""
            state = "需退回" if errors else "可采用"
            lines.append(f"  {state}  {unit}（{e.path}，{e.received:%Y-%m-%d %H:%M}{late}）")
            for f in errors:
                lines.append(f"      {f.where() or '文件'}：{f.message}")
        others = [e for e in entries if e.unit is None]
        for e in others:
            reason = "；".join(f.message for f in e.findings) or "无法识别"
            lines.append(f"  无法识别  {e.path}：{reason}")
    return lines
