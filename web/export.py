"""Any list page as an XLSX workbook (`?format=xlsx`): one sheet, a header row, the rows."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from io import BytesIO
from typing import Any

from django.http import HttpResponse
from django.utils import timezone
from django.utils.encoding import force_str

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: Rows written at most; a list longer than this is cut (say so in the last row).
MAX_ROWS = 100_000
#: Characters openpyxl refuses in a cell (control characters).
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


@dataclass(frozen=True)
class Column:
    """A column of a list: its header and how to read a row's value."""

    header: Any
    value: Callable[[Any], Any]
    #: The detail page of the row, for the HTML list (not exported).
    link: Callable[[Any], str] | None = None


def _cell_value(value):
    if value is None or isinstance(value, bool | int | float | Decimal | date):
        if isinstance(value, datetime):
            return timezone.localtime(value).replace(tzinfo=None) if value.tzinfo else value
        return value
    return _ILLEGAL.sub("", force_str(value))


def xlsx_bytes(*, title: str, columns: Sequence[Column], rows: Iterable) -> bytes:
    # openpyxl is imported here, not at the top: web.pages (and so this module) is loaded by
    # WebConfig.ready() in every process, and openpyxl costs a quarter-second of start-up to
    # commands and workers that never write a workbook.
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=_ILLEGAL.sub("", title)[:31] or "Sheet")
    bold = Font(bold=True)
    header = []
    for column in columns:
        cell = WriteOnlyCell(sheet, value=_cell_value(column.header))
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    for count, row in enumerate(rows, start=1):
        if count > MAX_ROWS:
            sheet.append([f"… cut at {MAX_ROWS} rows; filter the list for the rest."])
            break
        sheet.append([_cell_value(column.value(row)) for column in columns])
    out = BytesIO()
    workbook.save(out)
    return out.getvalue()


def xlsx_response(*, filename: str, title: str, columns: Sequence[Column], rows: Iterable):
    response = HttpResponse(
        xlsx_bytes(title=title, columns=columns, rows=rows), content_type=XLSX_TYPE
    )
    stamp = timezone.localdate().isoformat()
    response["Content-Disposition"] = f'attachment; filename="{filename}-{stamp}.xlsx"'
    return response
