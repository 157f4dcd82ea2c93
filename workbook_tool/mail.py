"""Mail in and out: ready-to-send .eml files in outbox/, sending them once over SMTP.

Subjects and bodies come from ``specs/<county>/mail.yaml`` when the office keeps
one (see README), otherwise from the defaults below. The SMTP password is read
only from the WORKBOOK_TOOL_SMTP_PASSWORD environment variable.
"""
from __future__ import annotations

import email.policy
import hashlib
import json
import os
import smtplib
import ssl
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Optional, Union

import yaml

from .desk import Desk, DeskError, Period, read_text, write_file
from .ledger import Ledger
from .template import safe_filename

if TYPE_CHECKING:
    from .rows import Row
    from .spec import Spec

# how send() opens the SMTP connection from mail.yaml's smtp settings (tests pass a fake)
Connect = Callable[[dict[str, Any]], smtplib.SMTP]

PASSWORD_ENV = "WORKBOOK_TOOL_SMTP_PASSWORD"
XLSX = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")

DEFAULTS = {
    "template": {
        "subject": "【请于{deadline}前报送】{county}“十项重大工程”{period}进度表（{unit}）",
        "body": "{unit}：\n\n附件是贵单位{period}“十项重大工程”进度表模板，请只填写浅黄色单元格，"
                "于{deadline}前回复本邮件报送（文件名不限）。\n\n如有问题请联系{contact}。\n\n{issuer}\n",
    },
    "feedback": {
        "subject": "【退回修改】{county}“十项重大工程”{period}进度表（{unit}）",
        "body": "{unit}：\n\n贵单位报送的{period}进度表有需要修改的地方，已在附件表格中用红框标出并加批注，"
                "“填报说明”页列出了全部意见。请修改后直接回复本邮件报送。\n\n如有问题请联系{contact}。\n\n{issuer}\n",
    },
    "reminder": {
        "subject": "【催报】{county}“十项重大工程”{period}进度表（{unit}）",
        "body": "{unit}：\n\n截至目前尚未收到贵单位{period}“十项重大工程”进度表（报送截止{deadline}）。"
                "现再次附上模板，请尽快填写报送。\n\n如有问题请联系{contact}。\n\n{issuer}\n",
    },
}
SMTP_KEYS = {"host", "port", "security", "user", "sender"}


@dataclass
class Outgoing:
    unit: str
    kind: str          # template | feedback | reminder
    path: Path         # the .eml in outbox/
    to: str


def settings(spec: Spec) -> dict[str, dict[str, Any]]:
    """mail.yaml of the county (optional): message texts and the SMTP server."""
    path = Path(spec.folder) / "mail.yaml"
    config = {"messages": {k: dict(v) for k, v in DEFAULTS.items()}, "smtp": {}}
    if not path.is_file():
        return config
    from .spec import yaml_bounds_problem
    try:
        problem = yaml_bounds_problem(path)
        text = read_text(path) if not problem else ""     # UTF-8, with a BOM, or GBK
        problem = problem or yaml_bounds_problem(path, text)
        if problem:
            raise DeskError(f"{path}: {problem}")
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise DeskError(f"{path}: YAML 格式错误：{exc}") from None
    if not isinstance(doc, dict):
        raise DeskError(f"{path}: 内容应为键值对（template、feedback、reminder、smtp）。")
    unknown = set(doc) - {"template", "feedback", "reminder", "smtp"}
    if unknown:
        raise DeskError(f"{path}: 未知的键 {', '.join(sorted(unknown))}；可用：template、feedback、reminder、smtp。")
    for kind in DEFAULTS:
        for key, value in (doc.get(kind) or {}).items():
            if key not in ("subject", "body"):
                raise DeskError(f"{path}: {kind} 下只能有 subject 和 body，不能有 {key}。")
            config["messages"][kind][key] = str(value)
    smtp = doc.get("smtp") or {}
    if set(smtp) - SMTP_KEYS:
        raise DeskError(f"{path}: smtp 下未知的键 {', '.join(sorted(set(smtp) - SMTP_KEYS))}；"
                        f"可用：{', '.join(sorted(SMTP_KEYS))}。")
    config["smtp"] = smtp
    return config


def _fields(spec, unit, period: Period):
    deadline = period.deadline(spec.deadline_day)
    contact = "、".join(x for x in (spec.office_contact, spec.office_phone, spec.office_email) if x) or spec.issuer
    return {"unit": unit, "county": spec.county, "period": period.label, "issuer": spec.issuer,
            "deadline": f"{deadline.year}年{deadline.month}月{deadline.day}日", "contact": contact}


def build(spec: Spec, config: dict[str, dict[str, Any]], unit: str, kind: str, period: Period,
          attachment: Path) -> EmailMessage:
    fields = _fields(spec, unit, period)
    texts = config["messages"][kind]
    try:
        subject, body = texts["subject"].format(**fields), texts["body"].format(**fields)
    except (KeyError, IndexError, ValueError) as exc:
        raise DeskError(f"mail.yaml 的 {kind} 模板有无法识别的占位符（{exc}）；可用："
                        f"{'、'.join('{' + k + '}' for k in fields)}。") from None
    msg = EmailMessage(policy=email.policy.SMTP)
    sender = config["smtp"].get("sender") or spec.office_email or "office@localhost"
    msg["From"] = _address(spec.issuer, sender)
    msg["To"] = _address(unit, spec.unit(unit).email)   # the one recipient: the unit's own `email`
    msg["Subject"] = subject
    digest = hashlib.sha256(f"{spec.code}|{period}|{unit}|{kind}".encode()).hexdigest()[:24]
    msg["Message-ID"] = f"<{digest}@workbook-tool>"
    msg.set_content(body)
    msg.add_attachment(attachment.read_bytes(), maintype=XLSX[0], subtype=XLSX[1],
                       filename=f"{unit}-{period}.xlsx")
    msg.set_boundary(f"=_workbook-tool_{digest}")     # fixed: the same message gives the same bytes
    return msg


def _address(name: str, addr: str) -> Address:
    """One mailbox, the name only ever a display name (never parsed as addresses)."""
    try:
        local, _, domain = addr.partition("@")
        return Address(display_name=name, username=local, domain=domain)
    except (ValueError, TypeError, IndexError) as exc:
        raise DeskError(f"邮箱地址 {addr!r}（{name}）无法使用（{exc}）。请在规格的单位名录中改正后重试。") from None


def write_outbox(desk: Desk, spec: Spec, period: Period,
                 plan: Iterable[tuple[str, str, Union[str, Path]]]) -> tuple[list[Outgoing], list[tuple[str, str]]]:
    """Write one .eml per (unit, kind, attachment); return (written [Outgoing], skipped [(unit, reason)])."""
    config = settings(spec)
    out_dir = desk.root / "outbox" / spec.code / str(period)
    out_dir.mkdir(parents=True, exist_ok=True)
    written, skipped = [], []
    for unit, kind, attachment in plan:
        to = spec.unit(unit).email
        if not to:
            skipped.append((unit, "单位名录中没有邮箱"))
            continue
        msg = build(spec, config, unit, kind, period, Path(attachment))
        path = out_dir / f"{safe_filename(unit)}-{ {'template': '模板', 'feedback': '退回', 'reminder': '催报'}[kind]}.eml"
        write_file(path, bytes(msg))
        written.append(Outgoing(unit, kind, path, to))
    return written, skipped


def remind_plan(desk: Desk, spec: Spec, period: Period) -> list[tuple[str, str, Path]]:
    """Feedback for rejected returns, the template again for units that have not returned."""
    summary_path = desk.consolidated(spec.code, period) / "汇总结果.json"
    if not summary_path.is_file():
        raise DeskError(f"{period} 还没有汇总结果：请先运行 workbook-tool consolidate --period {period}。")
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    templates = desk.templates(spec.code, period)
    plan = []
    for unit in summary["rejected"]:
        plan.append((unit, "feedback", desk.consolidated(spec.code, period) / "退回" / f"{safe_filename(unit)}.xlsx"))
    for unit in summary["missing"]:
        template = templates / f"{safe_filename(unit)}.xlsx"
        if not template.is_file():
            raise DeskError(f"找不到 {unit} 的模板 {template}：请先运行 workbook-tool generate。")
        plan.append((unit, "reminder", template))
    return plan


def send(desk: Desk, spec: Spec, period: Period, messages: Iterable[Outgoing],
         connect: Optional[Connect] = None) -> list[tuple[Outgoing, str, bool]]:
    """Send each .eml once; returns [(Outgoing, result text, sent?)]. Sent ones are recorded in the ledger."""
    config = settings(spec)["smtp"]
    if not config.get("host"):
        raise DeskError(f"没有配置发信服务器：请在 {Path(spec.folder) / 'mail.yaml'} 的 smtp 下填写 host、port、"
                        "security（starttls/ssl/none）、user、sender；密码放在环境变量 "
                        f"{PASSWORD_ENV}。")
    results = []
    with Ledger(desk.ledger_path(spec.code)) as ledger:
        pending = []
        for out in messages:
            digest = hashlib.sha256(out.path.read_bytes()).hexdigest()
            if ledger.was_sent(spec.code, str(period), out.path.name, digest):
                results.append((out, "已发送过，未重复发送", False))
            else:
                pending.append((out, digest))
        if not pending:
            return results
        try:
            server = (connect or _connect)(config)
        except (OSError, smtplib.SMTPException) as exc:
            reason = _reason(exc)
            return results + [(out, f"未发送：无法连接发信服务器（{reason}）", False) for out, _ in pending]
        try:
            for out, digest in pending:
                msg = email.message_from_bytes(out.path.read_bytes(), policy=email.policy.SMTP)
                try:
                    refused = server.send_message(msg, to_addrs=[out.to])   # never the header's list
                except smtplib.SMTPRecipientsRefused as exc:
                    results.append((out, f"未发送：收件人被拒绝（{_reason(exc)}）", False))
                    continue
                except (smtplib.SMTPServerDisconnected, OSError) as exc:
                    results.append((out, f"未发送：连接中断（{_reason(exc)}）", False))
                    break
                except smtplib.SMTPException as exc:
                    results.append((out, f"未发送：服务器拒绝（{_reason(exc)}）", False))
                    continue
                if refused:
                    results.append((out, f"未发送：收件人被拒绝（{refused}）", False))
                    continue
                with ledger.transaction():
                    ledger.record_sent(spec.code, str(period), out.path.name, digest, out.to)
                results.append((out, f"已发送至 {out.to}", True))
            done = {id(r[0]) for r in results}
            results += [(out, "未发送：连接中断", False) for out, _ in pending if id(out) not in done]
        finally:
            try:
                server.quit()
            except (smtplib.SMTPException, OSError):
                pass
    return results


def _reason(exc) -> str:
    text = str(exc) or type(exc).__name__
    return text[:200]


def _connect(config):
    host = config["host"]
    port = int(config.get("port") or 0)
    security = str(config.get("security") or "starttls").lower()
    timeout = 30
    server: smtplib.SMTP
    if security == "ssl":
        server = smtplib.SMTP_SSL(host, port or 465, timeout=timeout, context=ssl.create_default_context())
    else:
        server = smtplib.SMTP(host, port or (587 if security == "starttls" else 25), timeout=timeout)
        if security == "starttls":
            server.starttls(context=ssl.create_default_context())
        elif security != "none":
            raise DeskError(f"smtp.security 只能是 starttls、ssl 或 none，不能是 {security!r}。")
    user = config.get("user")
    if user:
        password = os.environ.get(PASSWORD_ENV)
        if not password:
            server.close()
            raise DeskError(f"请先在环境变量 {PASSWORD_ENV} 中设置发信密码。")
        server.login(user, password)
    return server


def mail_for_templates(desk: Desk, spec: Spec, period: Period,
                       results: Iterable[tuple[str, Path, Optional[dict], dict[str, list[Row]]]]
                       ) -> tuple[list[Outgoing], list[tuple[str, str]]]:
    """The .eml files that carry each unit its template; → (written, skipped)."""
    return write_outbox(desk, spec, period, [(unit, "template", path) for unit, path, _m, _r in results])


def remind(desk: Desk, spec: Spec, period: Period) -> tuple[list[Outgoing], list[tuple[str, str]]]:
    """Feedback to rejected units and reminders to missing ones, as .eml files; → (written, skipped)."""
    return write_outbox(desk, spec, period, remind_plan(desk, spec, period))


def send_outbox(desk: Desk, spec: Spec, period: Period, messages: Iterable[Outgoing],
                connect: Optional[Connect] = None) -> list[tuple[Outgoing, str, bool]]:
    return send(desk, spec, period, messages, connect)

