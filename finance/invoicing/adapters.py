"""The tax platform (电子发票服务平台) behind one small interface.

Customers reach the platform in different ways: the 数电 batch import (批量开具) of the
electronic tax bureau, a tax-control intermediary's API, or a person who uploads files.
The services only know `TaxPlatform`: hand it requests to issue, later ask it what was
issued. `FileTaxPlatform` is the intranet default: it writes each batch as a JSON file
into an outbox folder (taken to the platform by a person or a transfer job) and reads
the results as JSON files from an inbox folder. The field names follow the 数电发票
批量开具 import template (发票基本信息 / 发票明细信息 / 特定业务信息); see docs/invoicing.md.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from django.utils import timezone

from finance.invoicing import conf
from finance.invoicing.models import InvoiceKind, InvoiceRequest, InvoiceType

#: 发票类型 as the template writes it.
TYPE_NAMES = {
    InvoiceType.SPECIAL: "增值税专用发票",
    InvoiceType.NORMAL: "普通发票",
}


@dataclass
class IssueResult:
    """What the platform says about one request: issued (number, date) or failed (reason)."""

    request_number: str
    issued: bool
    invoice_number: str = ""
    invoice_date: date | None = None
    reason: str = ""
    source: str = ""


@dataclass
class FetchedResults:
    """Results read in one go, and the sources (files) that could not be read."""

    results: list[IssueResult] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


class TaxPlatform(ABC):
    """Where invoices are issued. Implementations must not touch the database."""

    @abstractmethod
    def submit(self, requests: Sequence[InvoiceRequest]) -> str:
        """Hand these requests over for issuing; returns a reference to the batch."""

    @abstractmethod
    def fetch_results(self) -> FetchedResults:
        """Results not yet acknowledged."""

    def acknowledge(self, sources: Sequence[str]) -> None:  # noqa: B027 - optional
        """The results from these sources are stored; do not return them again."""


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


def _rate(value: Decimal) -> str:
    return f"{value.normalize():f}"


def request_payload(request: InvoiceRequest) -> dict:
    """One request in the 数电 批量开具 shape: basic info, details, special-business info."""
    items = list(request.items.all())
    leasing = [i for i in items if i.property_address or i.lease_start]
    basic = {
        "发票流水号": request.number,
        "发票类型": TYPE_NAMES[request.invoice_type],
        "特定业务类型": "不动产经营租赁服务" if leasing else "",
        "是否含税": "是",
        "受票方自然人标识": "否" if request.buyer_tax_id else "是",
        "购买方名称": request.buyer_name,
        "购买方纳税人识别号": request.buyer_tax_id,
        "购买方地址": request.buyer_address,
        "购买方电话": request.buyer_phone,
        "购买方开户银行": request.buyer_bank,
        "购买方银行账号": request.buyer_account,
        "购买方邮箱": request.buyer_email,
        "销售方名称": request.seller_name,
        "销售方纳税人识别号": request.seller_tax_id,
        "备注": request.remarks,
        "价税合计": _money(request.amount),
    }
    if request.kind == InvoiceKind.RED:
        basic["红字确认单编号"] = request.red_confirmation_number
        basic["原发票号码"] = request.original.invoice_number if request.original else ""
        basic["冲红原因"] = request.red_reason
    details = [
        {
            "发票流水号": request.number,
            "项目名称": item.name,
            "商品和服务税收分类编码": item.tax_code,
            "规格型号": item.specification,
            "单位": item.measure_unit,
            "数量": "" if item.quantity is None else f"{item.quantity.normalize():f}",
            "单价": "" if item.unit_price is None else f"{item.unit_price.normalize():f}",
            "金额": _money(item.net),
            "税率": _rate(item.vat_rate),
            "税额": _money(item.tax),
            "价税合计": _money(item.amount),
        }
        for item in items
    ]
    special = [
        {
            "发票流水号": request.number,
            "不动产地址": item.property_address,
            "跨地（市）标志": "否",
            "租赁期起": item.lease_start.isoformat() if item.lease_start else "",
            "租赁期止": item.lease_end.isoformat() if item.lease_end else "",
            "产权证书/不动产权证号码": item.property_certificate,
            "面积单位": "平方米",
        }
        for item in leasing
    ]
    return {"发票基本信息": basic, "发票明细信息": details, "特定业务信息": special}


#: Result keys understood in inbox files, Chinese template names first.
RESULT_KEYS = {
    "request_number": ("发票流水号", "request_number", "request"),
    "invoice_number": ("发票号码", "数电发票号码", "invoice_number"),
    "invoice_date": ("开票日期", "invoice_date"),
    "status": ("开票状态", "状态", "status"),
    "reason": ("失败原因", "reason"),
}
OK_STATUSES = {"成功", "开具成功", "已开具", "issued", "success", "ok"}


def _get(row: dict, name: str) -> str:
    for key in RESULT_KEYS[name]:
        if row.get(key) not in (None, ""):
            return str(row[key]).strip()
    return ""


def parse_result_row(row: dict, source: str) -> IssueResult:
    """One result row of an inbox file; a bad date or status raises ValueError."""
    number = _get(row, "request_number")
    if not number:
        raise ValueError("a result without 发票流水号 (request number)")
    status = _get(row, "status").lower()
    invoice_number = _get(row, "invoice_number")
    issued = status in OK_STATUSES if status else bool(invoice_number)
    raw_date = _get(row, "invoice_date")
    invoice_date = None
    if raw_date:
        # "2025-07-01", "2025-07-01 10:31:22" or "20250701"
        digits = re.sub(r"\D", "", raw_date)[:8]
        invoice_date = datetime.strptime(digits, "%Y%m%d").date()  # noqa: DTZ007 - a date
    return IssueResult(
        request_number=number,
        issued=issued,
        invoice_number=invoice_number,
        invoice_date=invoice_date,
        reason=_get(row, "reason"),
        source=source,
    )


class FileTaxPlatform(TaxPlatform):
    """Batches as JSON files in an outbox, results as JSON files in an inbox.

    A result file holds a list of rows (or {"results": [...]}), each with 发票流水号,
    开票状态 (成功/失败), 发票号码, 开票日期 and 失败原因. Read files move to `done/`.
    """

    def __init__(self, outbox: Path | None = None, inbox: Path | None = None) -> None:
        self.outbox = Path(outbox or conf.outbox())
        self.inbox = Path(inbox or conf.inbox())

    def submit(self, requests: Sequence[InvoiceRequest]) -> str:
        self.outbox.mkdir(parents=True, exist_ok=True)
        stamp = timezone.localtime().strftime("%Y%m%d%H%M%S%f")
        name = f"invoices-{stamp}-{requests[0].number}.json"
        payload = {
            "模板": "数电发票批量开具",
            "生成时间": timezone.localtime().isoformat(timespec="seconds"),
            "发票": [request_payload(r) for r in requests],
        }
        tmp = self.outbox / f".{name}.tmp"
        tmp.write_text(json.dumps(payload, ensure_ascii=False, indent=2), encoding="utf-8")
        tmp.replace(self.outbox / name)  # whole files only: a reader never sees half of one
        return name

    def fetch_results(self) -> FetchedResults:
        fetched = FetchedResults()
        if not self.inbox.is_dir():
            return fetched
        for path in sorted(self.inbox.glob("*.json")):
            try:
                data = json.loads(path.read_text(encoding="utf-8-sig"))
                rows = data.get("results", data.get("结果", [])) if isinstance(data, dict) else data
                if not isinstance(rows, list):
                    raise ValueError("expected a list of results")
                fetched.results.extend(parse_result_row(row, path.name) for row in rows)
            except (ValueError, AttributeError, TypeError) as exc:
                fetched.errors[path.name] = str(exc)
                fetched.results = [r for r in fetched.results if r.source != path.name]
        return fetched

    def acknowledge(self, sources: Sequence[str]) -> None:
        done = self.inbox / "done"
        done.mkdir(parents=True, exist_ok=True)
        for name in sources:
            path = self.inbox / name
            if path.exists():
                path.replace(done / name)
