"""Vouchers (记账凭证) for the ERP: one per posted bill and one per receipt, balanced.

- A bill (periodic, metered, turnover, adjustment): Dr receivable (amount) /
  Cr income by charge item (net) / Cr output VAT (tax). A credit bill books the same
  sides with negative amounts (红字冲销).
- A late-fee bill: the same, with the late-fee income account.
- A payment receipt: Dr bank / Cr receivable (the whole amount; what is not yet allocated
  stays as a credit on the tenant's receivable). A deposit: Dr bank / Cr deposits
  received. A reversal: its original's entries, negative.

The voucher date is the bill's period start (income is booked to the period it is for)
or the day the money was received. Account codes come from `AccountCode`: the company's
own, else its nearest parent's, else the group-wide default.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from finance.collection.models import Receipt, ReceiptKind
from finance.invoicing.models import AccountCode, AccountKey, Voucher, VoucherEntry, VoucherSource
from finance.invoicing.services.invoices import _actor, _next_number
from finance.models import Bill, BillKind
from spatial.models import Company

ZERO = Decimal(0)
#: Charge item of a bill line → the income account it is booked to.
INCOME_BY_ITEM = {
    "rent": AccountKey.RENT_INCOME,
    "property_fee": AccountKey.PROPERTY_INCOME,
    "late_fee": AccountKey.LATE_FEE_INCOME,
}


def account_codes(company: Company) -> dict[str, AccountCode]:
    """Each role's account for `company`: its own, its nearest parent's, or the default."""
    ids = [int(p) for p in company.path.strip("/").split("/") if p] or [company.pk]
    depth = {pk: i for i, pk in enumerate(ids)}
    best: dict[str, tuple[int, AccountCode]] = {}
    rows = AccountCode.objects.filter(company_id__in=ids) | AccountCode.objects.filter(
        company__isnull=True
    )
    for row in rows:
        rank = depth.get(row.company_id, -1)
        if row.key not in best or rank > best[row.key][0]:
            best[row.key] = (rank, row)
    return {key: row for key, (_rank, row) in best.items()}


def _entries_write(voucher: Voucher, rows: list[dict], codes: dict[str, AccountCode]) -> None:
    missing = sorted({r["key"] for r in rows} - set(codes))
    if missing:
        raise ValidationError(
            {"account_code": [_("No account code for: %(k)s.") % {"k": ", ".join(missing)}]}
        )
    debit = sum((r.get("debit", ZERO) for r in rows), ZERO)
    credit = sum((r.get("credit", ZERO) for r in rows), ZERO)
    if debit != credit:  # the entries below are built to balance; never store one that does not
        raise ValidationError({"entries": [_("Debits %(d)s ≠ credits %(c)s.") % {
            "d": debit, "c": credit}]})  # fmt: skip
    VoucherEntry.objects.bulk_create(
        VoucherEntry(
            voucher=voucher,
            line=n,
            account_key=r["key"],
            account_code=codes[r["key"]].code,
            account_name=codes[r["key"]].name,
            summary=voucher.summary,
            debit=r.get("debit", ZERO),
            credit=r.get("credit", ZERO),
            tenant_id=r.get("tenant_id"),
            lease_id=r.get("lease_id"),
        )
        for n, r in enumerate(rows, start=1)
    )
    voucher.total = debit
    voucher.save(update_fields=["total"])


def _create(*, company: Company, on: date, source: str, summary: str, user, **target) -> Voucher:
    return Voucher.objects.create(
        company=company,
        number=_next_number("JZ", "invoicing_voucher_number_seq", on),
        date=on,
        source=source,
        summary=summary[:200],
        total=ZERO,
        created_by=_actor(user),
        **target,
    )


def voucher_for_bill(bill: Bill, *, user=None) -> Voucher | None:
    """The bill's voucher, made once; None for a bill of nothing (a free period)."""
    existing = Voucher.objects.filter(bill=bill).first()
    if existing is not None or bill.amount == 0:
        return existing
    aux = {"tenant_id": bill.tenant_id, "lease_id": bill.lease_id}
    late = bill.kind == BillKind.LATE_FEE
    income: dict[str, Decimal] = {}
    for line in bill.lines.all():
        key = (
            AccountKey.LATE_FEE_INCOME
            if late
            else INCOME_BY_ITEM.get(line.item, AccountKey.OTHER_INCOME)
        )
        income[key] = income.get(key, ZERO) + line.net
    rows = [{"key": AccountKey.RECEIVABLE, "debit": bill.amount, **aux}]
    rows += [{"key": key, "credit": net, **aux} for key, net in income.items() if net]
    if bill.tax:
        rows.append({"key": AccountKey.OUTPUT_VAT, "credit": bill.tax})
    summary = _("%(tenant)s %(kind)s %(number)s %(start)s–%(end)s") % {
        "tenant": bill.tenant.name,
        "kind": bill.get_kind_display(),
        "number": bill.number,
        "start": bill.period_start,
        "end": bill.period_end,
    }
    try:
        with transaction.atomic():
            voucher = _create(
                company=bill.company,
                on=bill.period_start,
                source=VoucherSource.LATE_FEE if late else VoucherSource.BILL,
                summary=summary,
                user=user,
                bill=bill,
            )
            _entries_write(voucher, rows, account_codes(bill.company))
    except IntegrityError:  # made meanwhile by another run
        return Voucher.objects.get(bill=bill)
    return voucher


#: Receipts that move no money (a credit bill set against the bill it corrects) have no
#: voucher: the credit bill's own voucher books it.
NO_MONEY_KINDS = ("offset",)


def voucher_for_receipt(receipt: Receipt, *, user=None) -> Voucher | None:
    """The receipt's voucher, made once; None for a receipt that moves no money."""
    existing = Voucher.objects.filter(receipt=receipt).first()
    if existing is not None or receipt.kind in NO_MONEY_KINDS or receipt.amount == 0:
        return existing
    aux = {"tenant_id": receipt.tenant_id, "lease_id": receipt.lease_id}
    kind = receipt.reverses.kind if receipt.kind == ReceiptKind.REVERSAL else receipt.kind
    counter = AccountKey.DEPOSIT if kind == ReceiptKind.DEPOSIT else AccountKey.RECEIVABLE
    rows = [
        {"key": AccountKey.BANK, "debit": receipt.amount},
        {"key": counter, "credit": receipt.amount, **aux},
    ]
    summary = _("%(tenant)s %(kind)s %(number)s") % {
        "tenant": receipt.tenant.name,
        "kind": receipt.get_kind_display(),
        "number": receipt.number,
    }
    try:
        with transaction.atomic():
            voucher = _create(
                company=receipt.company,
                on=receipt.received_on,
                source=VoucherSource.RECEIPT,
                summary=summary,
                user=user,
                receipt=receipt,
            )
            _entries_write(voucher, rows, account_codes(receipt.company))
    except IntegrityError:
        return Voucher.objects.get(receipt=receipt)
    return voucher


def vouchers_generate(
    *, start: date, end: date, companies: Iterable[int] | None = None, user=None
) -> list[Voucher]:
    """Vouchers for the bills and receipts of `[start, end)` that have none yet."""
    bills = Bill.objects.filter(period_start__gte=start, period_start__lt=end, voucher__isnull=True)
    receipts = Receipt.objects.filter(
        received_on__gte=start, received_on__lt=end, voucher__isnull=True
    )
    if companies is not None:
        companies = list(companies)
        bills, receipts = (
            bills.filter(company__in=companies),
            receipts.filter(company__in=companies),
        )
    made = []
    for bill in (
        bills.select_related("tenant", "company")
        .prefetch_related("lines")
        .order_by("period_start", "id")
    ):
        voucher = voucher_for_bill(bill, user=user)
        if voucher is not None:
            made.append(voucher)
    receipts = receipts.exclude(kind__in=NO_MONEY_KINDS)
    for receipt in receipts.select_related("tenant", "company", "reverses").order_by(
        "received_on", "id"
    ):
        voucher = voucher_for_receipt(receipt, user=user)
        if voucher is not None:
            made.append(voucher)
    return made


EXPORT_COLUMNS = (
    ("voucher", "凭证号"),
    ("date", "日期"),
    ("company", "公司编码"),
    ("line", "分录号"),
    ("summary", "摘要"),
    ("account_code", "科目编码"),
    ("account_name", "科目名称"),
    ("debit", "借方金额"),
    ("credit", "贷方金额"),
    ("tenant", "客户"),
    ("tenant_tax_id", "客户税号"),
    ("lease", "合同"),
    ("source", "来源单据"),
)


def _source_number(voucher: Voucher) -> str:
    return voucher.bill.number if voucher.bill_id else voucher.receipt.number


def voucher_rows(vouchers: Iterable[Voucher]) -> list[dict]:
    """One flat row per entry, as ERP imports want them."""
    rows = []
    for voucher in vouchers:
        for entry in voucher.entries.all():
            rows.append(
                {
                    "voucher": voucher.number,
                    "date": voucher.date.isoformat(),
                    "company": voucher.company.code,
                    "line": entry.line,
                    "summary": entry.summary,
                    "account_code": entry.account_code,
                    "account_name": entry.account_name,
                    "debit": f"{entry.debit:.2f}",
                    "credit": f"{entry.credit:.2f}",
                    "tenant": entry.tenant.name if entry.tenant_id else "",
                    "tenant_tax_id": entry.tenant.uscc if entry.tenant_id else "",
                    "lease": entry.lease.number if entry.lease_id else "",
                    "source": _source_number(voucher),
                }
            )
    return rows


def export_queryset(vouchers):
    return vouchers.select_related("company", "bill", "receipt").prefetch_related(
        "entries__tenant", "entries__lease"
    )


def vouchers_export(vouchers, *, fmt: str) -> tuple[str, str]:
    """(text, content type) of the vouchers as CSV (Chinese headers, BOM for Excel) or JSON."""
    if fmt not in ("csv", "json"):
        raise ValidationError({"format": [_("Export as csv or json.")]})
    vouchers = list(export_queryset(vouchers))
    if fmt == "json":
        data = [
            {
                "number": v.number,
                "date": v.date.isoformat(),
                "company": v.company.code,
                "source": v.source,
                "source_number": _source_number(v),
                "summary": v.summary,
                "total": f"{v.total:.2f}",
                "entries": [
                    {
                        k: r[k]
                        for k in (
                            "line",
                            "account_code",
                            "account_name",
                            "summary",
                            "debit",
                            "credit",
                            "tenant",
                            "tenant_tax_id",
                            "lease",
                        )
                    }
                    for r in voucher_rows([v])
                ],  # fmt: skip
            }
            for v in vouchers
        ]
        return json.dumps(data, ensure_ascii=False, indent=2), "application/json"
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow([title for _key, title in EXPORT_COLUMNS])
    for row in voucher_rows(vouchers):
        writer.writerow([row[key] for key, _title in EXPORT_COLUMNS])
    return out.getvalue(), "text/csv; charset=utf-8"


def period_bounds(period: str) -> tuple[date, date]:
    """'2025-07' → (2025-07-01, 2025-08-01)."""
    try:
        year, month = (int(p) for p in period.split("-"))
        start = date(year, month, 1)
    except ValueError as exc:
        raise ValidationError({"period": [_("Give the period as YYYY-MM.")]}) from exc
    end = date(year + (month == 12), month % 12 + 1, 1)
    return start, end


ACCOUNT_CODE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.\-]*$")


@transaction.atomic
def account_code_save(account: AccountCode | None = None, **fields) -> AccountCode:
    """Create or change one company's (or the default) account code for a role."""
    account = account or AccountCode()
    for name, value in fields.items():
        setattr(account, name, value.strip() if isinstance(value, str) else value)
    if account.code and not ACCOUNT_CODE.match(account.code):
        raise ValidationError({"code": [_("An account code is letters, digits, dots and dashes.")]})
    account.full_clean()
    account.save()
    return account
