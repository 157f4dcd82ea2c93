"""The distribution list (分发清单.xlsx): which unit gets which template, contacts, deadline."""
from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence, Union

import xlsxwriter

from .layout import fit_columns, footer, natural_width, page_header, print_setup, row_height
from .tables import TABLES
from .template import WORKBOOK_OPTIONS, Formats
from .desk import write_file

if TYPE_CHECKING:
    from .desk import Period
    from .spec import Spec


def write_distribution(spec: Spec, period: Period, results: Sequence[tuple[str, Any, Any, dict[str, list]]],
                       path: Union[str, Path]) -> None:
    """Write 分发清单.xlsx at ``path``: one line per ``(unit, file, meta, rows)`` of the templates generated."""
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, WORKBOOK_OPTIONS)
    wb.set_properties({"title": f"模板分发清单 {period.label}", "author": spec.issuer,
                       "created": dt.datetime.combine(period.end, dt.time(0))})
    fmt = Formats(wb)
    ws = wb.add_worksheet("分发清单")
    headers = ["序号", "单位", "文件", "联系人", "电话", "邮箱", "报送截止"] + \
              [TABLES[t].title + "行数" for t in spec.tables]
    deadline = period.deadline(spec.deadline_day).isoformat()
    table = []
    for i, (unit, file, _meta, rows) in enumerate(results, start=1):
        u = spec.unit(unit)
        table.append([i, unit, Path(file).name, u.contact, u.phone, u.email, deadline] +
                     [len(rows.get(t, [])) for t in spec.tables])
    widths: list[float] = [6, 18, 22, 10, 14, 22, 12, *[10] * len(spec.tables)]
    for c in (1, 2, 3, 4, 5):             # unit, file, contact, phone, e-mail: one line where the page allows
        widths[c] = max(widths[c], natural_width([v[c] for v in table], headers[c], cap=32))
    widths = fit_columns(widths, [1, 2, 5], 12)
    ws.merge_range(0, 0, 0, len(headers) - 1, f"{spec.county}“十项重大工程”进度表模板分发清单（{period.label}）",
                   fmt.title)
    ws.set_row(0, 32)
    for c, (h, w) in enumerate(zip(headers, widths)):
        ws.set_column(c, c, w)
        ws.write_string(1, c, h, fmt.header)
    # the autofilter button takes the right of each header cell: measure the header narrower
    ws.set_row(1, row_height([(h, w - 1.5) for h, w in zip(headers, widths)], minimum=20))
    for i, values in enumerate(table, start=1):
        ws.set_row(i + 1, row_height([(v, w) for v, w in zip(values, widths)]))
        for c, v in enumerate(values):
            if isinstance(v, int):
                ws.write_number(i + 1, c, v, fmt.locked_int)
            else:
                ws.write_string(i + 1, c, v, fmt.locked)
    ws.freeze_panes(2, 0)
    ws.autofilter(1, 0, len(results) + 1, len(headers) - 1)
    print_setup(ws, widths, title_rows=(0, 1), key_cols=2, header=page_header("模板分发清单"),
                footer=footer(spec.issuer, period.label))
    wb.close()
    write_file(Path(path), buf.getvalue())
