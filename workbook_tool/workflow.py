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
