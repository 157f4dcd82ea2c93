"""The quarterly bulletin against the masters, and mail out through a real SMTP server on loopback."""
import datetime as dt
import email
import email.policy
import re
import shutil
import socket

import docx
import openpyxl
import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner

from workbook_tool import demo
from workbook_tool.bulletin import Quarter, make_bulletin
from workbook_tool.cli import main
from workbook_tool.consolidate import consolidate
from workbook_tool.workflow import generate_templates

from conftest import ON_TIME, objects


@pytest.fixture
def quarter_desk(may):
    """May and June consolidated: a few units, one rejected in June, one red light."""
    for unit in ("县发改局", "县经信局", "县教育局"):
        may.drop(may.filled(unit), f"5/{unit}.xlsx")
    consolidate(*objects(may.root, "specs/shengsi", "2023-05"))
    generate_templates(*objects(may.root, "specs/shengsi", "2023-06"))
    june_dir = may.root / "templates/shengsi/2023-06"
    for f in (may.root / "inbox").rglob("*.xlsx"):
        f.unlink()
    from workbook_tool.desk import Period
    june = Period(2023, 6)
    for unit in ("县发改局", "县经信局"):
        wb = demo.open_template(june_dir / f"{unit}.xlsx")
        demo.fill_correctly(wb, june, may.rng)
        if unit == "县经信局":
            key = next(k for k, v in demo.rows_of(wb, "indicators")     # a level indicator: no X004
                       if v["schedule"] == "=1" and "<=0,1," not in str(v["rate"]))
            demo.set_cell(wb, "indicators", key, "actual", 0.01)         # far behind: red light
            demo.set_cell(wb, "indicators", key, "note", "受市场影响，正在协调")
        path = may.root / "inbox" / f"6/{unit}.xlsx"
        path.parent.mkdir(exist_ok=True)
        wb.save(path)
        demo.set_received(path, dt.datetime(2023, 7, 3, 9) if unit == "县发改局" else dt.datetime(2023, 7, 8, 9))
    consolidate(*objects(may.root, "specs/shengsi", "2023-06"))
    return may


def overview_of(master):
    ws = openpyxl.load_workbook(master)["总览"]
    headers = [c.value for c in ws[3]]
    rows = []
    for r in range(4, 4 + 10):
        rows.append(dict(zip(headers, [c.value for c in ws[r]])))
    return rows


def test_bulletin_figures_match_the_master(quarter_desk):
    spec, data, path = make_bulletin(*objects(quarter_desk.root, "specs/shengsi", "2023-05")[:2],
                                          Quarter.parse("2023Q2"))
    assert path == quarter_desk.root / "consolidated/shengsi/2023Q2/工作简报.docx"
    assert [str(p) for p in data.months] == ["2023-05", "2023-06"] and str(data.period) == "2023-06"
    master = overview_of(quarter_desk.root / "consolidated/shengsi/2023-06/汇总表.xlsx")
    pairs = {"指标绿灯": "light_绿", "指标黄灯": "light_黄", "指标红灯": "light_红", "任务已完成": "task_已完成",
             "任务正常推进": "task_正常推进", "年度计划投资(万元)": "invest_plan", "累计完成投资(万元)": "invest_done",
             "问题未销号": "problem_open", "已报单位": "units_returned"}
    for m_row, b_row in zip(master, data.projects):
        assert m_row["工程"] == b_row["name"]
        for header, key in pairs.items():
            assert m_row[header] == pytest.approx(b_row[key]), (b_row["name"], header)
    assert data.totals["light_红"] >= 1 and any(unit == "县经信局" for _p, _n, unit, _r in data.red)
    # the document says the same numbers
    document = docx.Document(str(path))
    text = "\n".join(p.text for p in document.paragraphs)
    assert f"红灯{data.totals['light_红']}项" in text and f"绿灯{data.totals['light_绿']}项" in text
    assert "第 2 期" in text and "2023年第二季度" in text
    lights = document.tables[0]
    total_row = [c.text for c in lights.rows[-1].cells]
    assert total_row[0] == "合计" and int(total_row[3]) == data.totals["light_红"]
    # ranking: on time and accepted in both months first; the late one (June) after
    ranking = {unit: score for unit, score, _months in data.ranking}
    assert ranking["县发改局"] == 2 and ranking["县经信局"] == 1 and ranking["县教育局"] == 1
    assert data.ranking[0][0] == "县发改局"


def test_bulletin_without_masters_says_what_to_do(may):
    result = CliRunner().invoke(main, ["bulletin", "--root", str(may.root), "--spec", "specs/shengsi",
                                       "--quarter", "2023Q3"])
    assert result.exit_code == 1 and "consolidate" in result.output and "Traceback" not in result.output


@pytest.mark.libreoffice
def test_bulletin_converts_to_pdf(quarter_desk, tmp_path):
    if not shutil.which("soffice"):
        pytest.skip("LibreOffice is not installed")
    _spec, _data, path = make_bulletin(*objects(quarter_desk.root, "specs/shengsi", "2023-05")[:2],
                                          Quarter.parse("2023Q2"))
    pdf = demo.convert(path, "pdf", tmp_path)
    assert pdf.read_bytes()[:5] == b"%PDF-"


# -- mail out through a real SMTP server on loopback --------------------------------------------

class Collector:
    def __init__(self, refuse=()):
        self.messages, self.refuse = [], set(refuse)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 Message accepted"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp(may):
    """A desk whose units have addresses and whose mail.yaml points at a loopback SMTP server."""
    county = may.root / "specs/shengsi/county.yaml"
    counter = iter(range(1, 1000))
    county.write_text(re.sub(r'(?m)^(\s+)email: ""', lambda m: f'{m.group(1)}email: "u{next(counter):03d}@test.invalid"',
                             county.read_text(encoding="utf-8")), encoding="utf-8")
    port = free_port()
    (may.root / "specs/shengsi/mail.yaml").write_text(
        f"smtp:\n  host: 127.0.0.1\n  port: {port}\n  security: none\n  sender: office@test.invalid\n"
        "template:\n  subject: '{county}{period}进度表请{unit}填报，截止{deadline}'\n", encoding="utf-8")
    return may, port


def start(handler, port):
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    return controller


def run(may, *args):
    return CliRunner().invoke(main, [*args, "--root", str(may.root), "--spec", "specs/shengsi"])


def test_generate_mail_send_delivers_each_template_once(smtp):
    may, port = smtp
    handler = Collector()
    controller = start(handler, port)
    try:
        units = ["县发改局", "县经信局", "县教育局"]
        args = ["generate", "--period", "2023-05", "--send"] + [x for u in units for x in ("--units", u)]
        result = run(may, *args)
        assert result.exit_code == 0, result.output
        assert len(handler.messages) == 3
        for msg in handler.messages:
            unit = next(u for u in units if u in msg["Subject"])
            assert msg["Subject"] == f"嵊泗县2023年5月进度表请{unit}填报，截止2023年6月5日"
            attachment = next(msg.iter_attachments())
            assert attachment.get_content() == (may.out_dir / f"{unit}.xlsx").read_bytes()
        again = run(may, *args)
        assert again.exit_code == 0 and "已发送过" in again.output
        assert len(handler.messages) == 3                       # nothing sent twice
        assert sorted(p.name for p in (may.root / "outbox/shengsi/2023-05").iterdir()) == sorted(
            f"{u}-模板.eml" for u in units)
    finally:
        controller.stop()


def test_a_refusing_server_leaves_the_message_unsent_for_the_next_try(smtp):
    may, port = smtp
    from workbook_tool.spec import load_spec
    addr = load_spec(may.root / "specs/shengsi").unit("县发改局").email
    controller = start(Collector(refuse={addr}), port)
    try:
        result = run(may, "generate", "--period", "2023-05", "--send", "--units", "县发改局", "--units", "县经信局")
        assert result.exit_code == 1
        assert "县发改局：未发送：收件人被拒绝" in result.output and "县经信局：已发送至" in result.output
    finally:
        controller.stop()
    good = Collector()
    controller = start(good, port)
    try:
        result = run(may, "generate", "--period", "2023-05", "--send", "--units", "县发改局", "--units", "县经信局")
        assert result.exit_code == 0, result.output
        assert [m["To"].addresses[0].addr_spec for m in good.messages] == [addr]
    finally:
        controller.stop()


def test_no_server_gives_a_clear_error_and_sends_nothing(smtp):
    may, _port = smtp
    result = run(may, "generate", "--period", "2023-05", "--send", "--units", "县发改局")
    assert result.exit_code == 1
    assert "未发送：无法连接发信服务器" in result.output and "Traceback" not in result.output


def test_remind_writes_feedback_and_reminders(smtp):
    may, port = smtp
    bad = may.filled("县经信局")
    demo.set_cell(bad, "tasks", demo.rows_of(bad, "tasks")[0][0], "state", "进行中")
    may.drop(bad, "bad.xlsx")
    may.drop(may.filled("县发改局"), "good.xlsx")
    consolidate(*objects(may.root, "specs/shengsi", "2023-05"))
    handler = Collector()
    controller = start(handler, port)
    try:
        result = run(may, "remind", "--period", "2023-05", "--send")
        assert result.exit_code == 0, result.output
    finally:
        controller.stop()
    subjects = [m["Subject"] for m in handler.messages]
    expected = len(may.spec.responsible_units) - 1              # every unit but the accepted one
    assert len(subjects) == expected
    feedback = [m for m in handler.messages if "退回修改" in m["Subject"]]
    assert len(feedback) == 1 and "县经信局" in feedback[0]["Subject"]
    sent = next(feedback[0].iter_attachments()).get_content()
    assert sent == (may.root / "consolidated/shengsi/2023-05/退回/县经信局.xlsx").read_bytes()


def test_consolidate_reads_a_maildir(may, tmp_path):
    import mailbox
    box = mailbox.Maildir(str(tmp_path / "Maildir"), create=True)
    src = tmp_path / "a.xlsx"
    may.filled("县发改局").save(src)
    eml = tmp_path / "a.eml"
    demo.mail_into(eml, src, "", ON_TIME)
    box.add(eml.read_bytes())
    box.close()
    result = CliRunner().invoke(main, ["consolidate", "--root", str(may.root), "--spec", "specs/shengsi",
                                       "--period", "2023-05", "--json", "--mailbox", str(tmp_path / "Maildir")])
    assert result.exit_code == 0, result.output
    import json
    data = json.loads(result.output)
    assert data["accepted"] == ["县发改局"] and data["files"][0]["path"].startswith("Maildir!")


class Dropper(Collector):
    """Accepts the first message, then drops the connection in the middle of the second."""

    async def handle_DATA(self, server, session, envelope):
        if self.messages:
            server.transport.close()
            return "421 closing"
        return await super().handle_DATA(server, session, envelope)


def test_a_dropped_connection_leaves_the_rest_unsent_for_the_next_try(smtp):
    may, port = smtp
    units = ["县发改局", "县经信局", "县教育局"]
    args = ["generate", "--period", "2023-05", "--send"] + [x for u in units for x in ("--units", u)]
    controller = start(Dropper(), port)
    try:
        result = run(may, *args)
    finally:
        controller.stop()
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.count("已发送至") == 1 and result.output.count("未发送：连接中断") == 2
    good = Collector()
    controller = start(good, port)
    try:
        again = run(may, *args)
    finally:
        controller.stop()
    assert again.exit_code == 0, again.output
    assert len(good.messages) == 2 and again.output.count("已发送过") == 1


def test_bulletin_is_laid_out_like_an_official_document(quarter_desk):
    """GB/T 9704 as the reference: A4 and its margins, fonts by role (East Asian too), fixed lines,
    a two-character indent, page numbers, fitted tables with a repeated header row."""
    from docx.oxml.ns import qn
    from docx.shared import Cm, Pt
    _spec, _data, path = make_bulletin(*objects(quarter_desk.root, "specs/shengsi", "2023-05")[:2],
                                          Quarter.parse("2023Q2"))
    document = docx.Document(str(path))
    section = document.sections[0]
    assert (round(section.page_width.cm, 1), round(section.page_height.cm, 1)) == (21.0, 29.7)
    assert [round(m.cm, 1) for m in (section.top_margin, section.bottom_margin, section.left_margin,
                                     section.right_margin)] == [3.7, 3.5, 2.8, 2.6]

    def east_asian(run):
        return run._r.rPr.rFonts.get(qn("w:eastAsia"))

    normal = document.styles["Normal"]
    assert normal.element.rPr.rFonts.get(qn("w:eastAsia")) == "仿宋_GB2312" and normal.font.size == Pt(16)
    paragraphs = {p.text: p for p in document.paragraphs if p.text}
    title = next(p for t, p in paragraphs.items() if t.endswith("进展情况"))
    assert east_asian(title.runs[0]) == "方正小标宋简体" and title.runs[0].font.size == Pt(22)
    heading1 = paragraphs["一、总体情况"]
    assert east_asian(heading1.runs[0]) == "黑体" and not heading1.runs[0].bold
    heading2 = next(p for t, p in paragraphs.items() if t.startswith("（一）"))
    assert east_asian(heading2.runs[0]) == "楷体_GB2312" and heading2.runs[0].font.size == Pt(16)
    body = next(p for t, p in paragraphs.items() if t.startswith("截至"))
    assert east_asian(body.runs[0]) == "仿宋_GB2312" and body.runs[0].font.size == Pt(16)
    assert body.paragraph_format.line_spacing == Pt(28)
    assert body._p.pPr.ind.get(qn("w:firstLineChars")) == "200"
    # fallbacks for machines without the _GB2312 faces
    fonts = document.part.part_related_by(
        "http://schemas.openxmlformats.org/officeDocument/2006/relationships/fontTable").blob.decode()
    assert 'w:name="仿宋_GB2312"><w:altName w:val="仿宋"/>' in fonts
    # "— 1 —": a PAGE field in the footer
    footer = section.footer.paragraphs[0]
    assert footer.text.startswith("— ") and footer.text.endswith(" —")
    assert "PAGE" in "".join(t.text for t in footer._p.iter(qn("w:instrText")))
    # tables: fixed layout, a width on every cell, header row repeated, names wider than figures
    for table in document.tables:
        tbl = table._tbl
        assert tbl.tblPr.find(qn("w:tblLayout")).get(qn("w:type")) == "fixed"
        assert table.rows[0]._tr.trPr.find(qn("w:tblHeader")) is not None
        for row in table.rows:
            assert all(cell._tc.tcPr.tcW is not None and cell._tc.tcPr.tcW.w for cell in row.cells)
        widths = [cell.width for cell in table.rows[0].cells]
        assert widths[0] > 2 * max(widths[1:]) and sum(widths) <= Cm(15.6) + 1000
        first = table.rows[1].cells[0].paragraphs[0].runs[0]
        assert east_asian(first) == "仿宋_GB2312"


def test_ranking_groups_ties():
    from workbook_tool.bulletin import ranking_lines
    ranking = [(f"单位{i}", 3, 3) for i in range(40)] + [("县财政局", 2, 3), ("县教育局", 2, 3), ("花鸟乡", 0, 3)]
    lines = ranking_lines(ranking)
    assert len(lines) == 3
    assert lines[0].startswith("并列第1名（40个单位，3/3个月）：单位0、单位1") and lines[0].endswith("等。")
    assert lines[1] == "并列第41名（2个单位，2/3个月）：县财政局、县教育局。"
    assert lines[2] == "第43名（0/3个月）：花鸟乡。"
