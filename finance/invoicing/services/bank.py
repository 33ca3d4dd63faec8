"""Bank reconciliation: statements imported from CSV/XLSX, credits matched to money.

Each credit line is scored against the company's unlinked receipts and open bills:

- reference: a bill number (50), a lease number (35) or a receipt's reference (40) in
  the memo (摘要/附言/用途) or the bank serial;
- amount: equal to a bill's outstanding amount (30) or to a receipt's amount (40);
- payer: the counterparty's name against the tenant's (or the receipt's payer), up to 20
  by similarity (difflib; names under 60 % alike score nothing).

The best candidate's score is the line's confidence (0–100) with the reasons. At or
above the threshold (`INVOICING_AUTOMATCH_THRESHOLD`, 80) and with no equal rival it is
confirmed at once; otherwise it is suggested, or left unmatched, for a person to match.
Confirming a bill records a receipt and allocates it (finance.collection); confirming a
receipt links the line to it. A line is matched once and a receipt backs one line, so
no money is counted twice; importing the same statement again adds no lines.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from difflib import SequenceMatcher
from zipfile import BadZipFile

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import DecimalField, F, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from finance.collection.models import Allocation, Receipt, ReceiptKind
from finance.invoicing import conf
from finance.invoicing.models import BankLine, BankLineStatus, BankStatement
from finance.invoicing.services.invoices import _actor
from finance.models import Bill
from spatial.models import Company

# -- reading files -----------------------------------------------------------------------------

#: Field → the column headers common Chinese bank exports use for it.
COLUMNS: dict[str, tuple[str, ...]] = {
    "booked_on": ("交易日期", "记账日期", "交易时间", "入账日期", "日期", "date"),
    "credit": ("贷方金额", "收入金额", "贷方发生额", "收入", "存入金额", "贷方", "credit"),
    "debit": ("借方金额", "支出金额", "借方发生额", "支出", "借方", "debit"),
    "amount": ("交易金额", "发生额", "金额", "amount"),
    "direction": ("借贷标志", "借贷方向", "收支标志", "direction"),
    "payer_name": (
        "对方户名",
        "对方账户名称",
        "对方名称",
        "对方单位",
        "付款人名称",
        "付款方户名",
        "payer_name",
    ),  # fmt: skip
    "payer_account": ("对方账号", "对方账户", "付款人账号", "付款方账号", "payer_account"),
    "memo": ("摘要", "附言", "用途", "交易附言", "备注", "memo"),
    "serial": ("交易流水号", "流水号", "业务流水号", "交易序号", "凭证号", "serial"),
}
MAX_FILE_BYTES = 20 * 1024 * 1024
HEADER_SEARCH_ROWS = 30


@dataclass
class ParsedLine:
    row: int
    booked_on: date
    amount: Decimal
    payer_name: str = ""
    payer_account: str = ""
    memo: str = ""
    serial: str = ""


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value).strip()


def _rows_csv(content: bytes) -> list[list[str]]:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = content.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise ValidationError({"file": [_("The CSV file is neither UTF-8 nor GBK text.")]})
    return [[c.strip() for c in row] for row in csv.reader(io.StringIO(text))]


def _rows_xlsx(content: bytes) -> list[list]:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except (InvalidFileException, BadZipFile, KeyError, OSError, ValueError) as exc:
        raise ValidationError({"file": [_("Not a readable XLSX workbook.")]}) from exc
    try:
        return [list(row) for row in book.worksheets[0].iter_rows(values_only=True)]
    finally:
        book.close()


def _header(rows: list[list], mapping: dict[str, str]) -> tuple[int, dict[str, list[int]]]:
    """The header row (banks put titles and account details above it) and field columns."""
    for index, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
        names = [_cell(c) for c in row]
        found: dict[str, list[int]] = {}
        for name, aliases in COLUMNS.items():
            wanted = (mapping[name],) if mapping.get(name) else aliases
            found[name] = [i for i, n in enumerate(names) if n in wanted]
        has_amount = found["credit"] or (found["amount"] and found["direction"])
        if found["booked_on"] and has_amount:
            return index, found
    raise ValidationError(
        {
            "file": [
                _("No header row with a date column (交易日期) and a credit column (贷方金额 or "
                  "收入金额) in the first %(n)d rows.") % {"n": HEADER_SEARCH_ROWS}
            ]
        }
    )  # fmt: skip


def _parse_date(value) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = _cell(value)
    digits = re.sub(r"\D", "", text)
    if len(digits) >= 8 and not re.match(r"^\d{4}[-/.年]\d{1,2}[-/.月]\d{1,2}", text):
        return datetime.strptime(digits[:8], "%Y%m%d").date()  # noqa: DTZ007 - a date
    match = re.match(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})", text)
    if not match:
        raise ValueError(text)
    return date(*(int(g) for g in match.groups()))


def _parse_amount(value) -> Decimal | None:
    text = _cell(value).replace(",", "").replace("，", "").replace("¥", "").replace("￥", "")
    if text in ("", "-", "--"):
        return None
    return Decimal(text)


def parse_statement(
    content: bytes, file_name: str, mapping: dict | None = None
) -> list[ParsedLine]:
    """The credit lines of a bank export; every row is checked before anything is stored."""
    mapping = {k: v for k, v in (mapping or {}).items() if v}
    unknown = set(mapping) - set(COLUMNS)
    if unknown:
        raise ValidationError({"mapping": [_("Unknown fields: %(f)s.") % {"f": sorted(unknown)}]})
    if len(content) > MAX_FILE_BYTES:
        raise ValidationError({"file": [_("The file is larger than 20 MB.")]})
    lower = file_name.lower()
    if lower.endswith(".xlsx"):
        rows = _rows_xlsx(content)
    elif lower.endswith((".csv", ".txt")):
        rows = _rows_csv(content)
    else:
        raise ValidationError({"file": [_("Upload a .csv or .xlsx bank statement.")]})
    start, cols = _header(rows, mapping)

    def get(row: list, name: str) -> str:
        return " ".join(_cell(row[i]) for i in cols[name] if i < len(row) and _cell(row[i]))

    lines, errors = [], []
    for number, row in enumerate(rows[start + 1 :], start=start + 2):
        if not any(_cell(c) for c in row):
            continue
        first = [_cell(row[i]) for i in cols["booked_on"] if i < len(row)]
        if first and first[0] in ("合计", "总计", "小计", "本页合计"):
            continue  # the totals row many banks print at the bottom
        try:
            raw_date = row[cols["booked_on"][0]] if cols["booked_on"][0] < len(row) else None
            booked_on = _parse_date(raw_date)
        except (ValueError, TypeError):
            errors.append(_("Row %(row)d: %(value)r is not a date.") % {
                "row": number, "value": _cell(raw_date)})  # fmt: skip
            continue
        try:
            if cols["credit"]:
                amount = _parse_amount(get(row, "credit"))
            else:
                direction = get(row, "direction")
                amount = _parse_amount(get(row, "amount"))
                if amount is not None and direction not in (
                    "贷",
                    "收",
                    "收入",
                    "C",
                    "CR",
                    "credit",
                ):
                    amount = None
        except InvalidOperation:
            errors.append(_("Row %(row)d: the credit amount is not a number.") % {"row": number})
            continue
        if amount is None or amount <= 0:
            continue  # a debit (money out) or an empty credit: not ours to match
        if amount != amount.quantize(Decimal("0.01")):
            errors.append(_("Row %(row)d: an amount has at most two decimals.") % {"row": number})
            continue
        lines.append(
            ParsedLine(
                row=number,
                booked_on=booked_on,
                amount=amount,
                payer_name=get(row, "payer_name")[:200],
                payer_account=get(row, "payer_account").replace(" ", "")[:60],
                memo=get(row, "memo")[:500],
                serial=get(row, "serial")[:80],
            )
        )
    if errors:
        raise ValidationError({"file": errors[:50]})
    return lines


def dedupe_keys(lines: list[ParsedLine]) -> list[str]:
    """A key per line from date, amount and the bank serial.

    Without a serial the counterparty and memo are taken too, and the occurrence of the
    same values within the file, so two equal payments on one day stay two lines while
    the same file imported again adds nothing.
    """
    seen: dict[str, int] = {}
    keys = []
    for line in lines:
        base = f"{line.booked_on.isoformat()}|{line.amount:.2f}|{line.serial}"
        if not line.serial:
            base += f"|{line.payer_account}|{line.payer_name}|{line.memo}"
        seen[base] = seen.get(base, 0) + 1
        keys.append(hashlib.sha256(f"{base}|{seen[base]}".encode()).hexdigest())
    return keys


# -- matching ----------------------------------------------------------------------------------


@dataclass
class Candidate:
    score: int
    reasons: list[str] = field(default_factory=list)
    bill: Bill | None = None
    receipt: Receipt | None = None


def _norm(text: str) -> str:
    return re.sub(r"[\s\-_/（）()]", "", text or "").upper()


COMPANY_SUFFIXES = re.compile(r"(股份)?有限(责任)?公司$|分公司$|集团$")


def name_similarity(a: str, b: str) -> float:
    """0–1: how alike two names are, ignoring spaces, brackets and 有限公司."""
    a, b = COMPANY_SUFFIXES.sub("", _norm(a)), COMPANY_SUFFIXES.sub("", _norm(b))
    if not a or not b:
        return 0.0
    if a == b:
        return 1.0
    return SequenceMatcher(None, a, b).ratio()


def _name_points(payer: str, name: str) -> tuple[int, str | None]:
    ratio = name_similarity(payer, name)
    if ratio < 0.6:
        return 0, None
    return round(20 * ratio), _("payer name %(r)d%% like %(n)s") % {
        "r": round(ratio * 100),
        "n": name,
    }


def open_bills(company_id: int):
    """Bills of a company with money still owed, each with `outstanding`."""
    allocated = (
        Allocation.objects.filter(bill=OuterRef("pk"))
        .values("bill")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    money = DecimalField(max_digits=16, decimal_places=2)
    return (
        Bill.objects.filter(company_id=company_id)
        .annotate(
            outstanding=F("amount")
            - Coalesce(
                Subquery(allocated, output_field=money), Value(Decimal(0)), output_field=money
            )
        )
        .filter(outstanding__gt=0)
        .select_related("tenant", "lease")
    )


def _score_bill(line: BankLine, bill: Bill, text: str) -> Candidate:
    found = Candidate(0, bill=bill)
    if _norm(bill.number) and _norm(bill.number) in text:
        found.score += 50
        found.reasons.append(_("bill number %(n)s in the memo") % {"n": bill.number})
    elif _norm(bill.lease.number) and _norm(bill.lease.number) in text:
        found.score += 35
        found.reasons.append(_("contract number %(n)s in the memo") % {"n": bill.lease.number})
    if line.amount == bill.outstanding:
        found.score += 30
        found.reasons.append(_("amount equals the %(n)s outstanding") % {"n": bill.outstanding})
    points, reason = _name_points(line.payer_name, bill.tenant.name)
    if points:
        found.score += points
        found.reasons.append(reason)
    return found


def _score_receipt(line: BankLine, receipt: Receipt, text: str) -> Candidate:
    found = Candidate(40, [_("amount equals receipt %(n)s") % {"n": receipt.number}],
                      receipt=receipt)  # fmt: skip
    if receipt.reference and _norm(receipt.reference) in text:
        found.score += 40
        found.reasons.append(_("receipt reference %(r)s in the memo") % {"r": receipt.reference})
    points, reason = _name_points(line.payer_name, receipt.payer_name or receipt.tenant.name)
    if points:
        found.score += points
        found.reasons.append(reason)
    return found


def line_candidates(line: BankLine, bills: list[Bill], receipts: list[Receipt]) -> list[Candidate]:
    """Every plausible match of a line, best first."""
    text = _norm(f"{line.memo} {line.serial}")
    found = [_score_bill(line, b, text) for b in bills]
    found += [_score_receipt(line, r, text) for r in receipts if r.amount == line.amount]
    found = [c for c in found if c.score > 0]
    found.sort(key=lambda c: -c.score)
    return found


def _unlinked_receipts(company_id: int) -> list[Receipt]:
    return list(
        Receipt.objects.filter(
            company_id=company_id,
            kind__in=[ReceiptKind.PAYMENT, ReceiptKind.DEPOSIT],
            bank_line__isnull=True,
            reversed_by__isnull=True,
        ).select_related("tenant")
    )


#: Below this a candidate is noise, not a suggestion.
SUGGEST_MIN = 30
SCORE_FIELDS = ["confidence", "reasons", "suggested_bill", "suggested_receipt", "status"]


def bank_lines_match(lines: list[BankLine], *, threshold: int | None = None, user=None) -> dict:
    """Score open lines; confirm those at or above the threshold, suggest the rest."""
    threshold = conf.automatch_threshold() if threshold is None else threshold
    counts = {"matched": 0, "suggested": 0, "unmatched": 0}
    by_company: dict[int, list[BankLine]] = {}
    for line in lines:
        if line.status in (BankLineStatus.UNMATCHED, BankLineStatus.SUGGESTED):
            by_company.setdefault(line.company_id, []).append(line)
    for company_id, company_lines in by_company.items():
        bills = list(open_bills(company_id))
        receipts = _unlinked_receipts(company_id)
        for line in company_lines:
            found = line_candidates(line, bills, receipts)
            best = found[0] if found else None
            tied = len(found) > 1 and found[1].score == best.score
            line.confidence = min(best.score, 100) if best else 0
            line.reasons = list(best.reasons) if best else []
            if tied:
                line.reasons.append(_("another candidate scores the same"))
            line.suggested_bill = best.bill if best else None
            line.suggested_receipt = best.receipt if best else None
            line.status = (
                BankLineStatus.SUGGESTED
                if best and best.score >= SUGGEST_MIN
                else BankLineStatus.UNMATCHED
            )
            line.save(update_fields=SCORE_FIELDS)
            if best and line.confidence >= threshold and not tied:
                try:
                    bank_line_match(
                        line, bill=best.bill, receipt=best.receipt, user=user, auto=True
                    )
                except ValidationError as exc:
                    line.reasons.append(" ".join(exc.messages))
                    line.save(update_fields=["reasons"])
                else:
                    counts["matched"] += 1
                    if best.receipt is not None:
                        receipts.remove(best.receipt)
                    else:
                        bills = list(open_bills(company_id))  # its outstanding changed
                    continue
            counts[line.status] += 1
    return counts


# -- writes ------------------------------------------------------------------------------------


@transaction.atomic
def bank_statement_import(
    *,
    company: Company,
    content: bytes,
    file_name: str,
    user=None,
    mapping: dict | None = None,
    account_number: str = "",
    bank_name: str = "",
    automatch: bool = True,
) -> BankStatement:
    """Import a bank export's credits, skipping lines imported before; then auto-match."""
    parsed = parse_statement(content, file_name, mapping)
    keys = dedupe_keys(parsed)
    existing = set(
        BankLine.objects.filter(company=company, dedupe_key__in=keys).values_list(
            "dedupe_key", flat=True
        )
    )
    statement = BankStatement.objects.create(
        company=company,
        account_number=account_number.strip()[:40],
        bank_name=bank_name.strip()[:100],
        file_name=file_name[:200],
        sha256=hashlib.sha256(content).hexdigest(),
        lines_read=len(parsed),
        imported_by=_actor(user),
    )
    new = [
        BankLine(
            statement=statement,
            company=company,
            booked_on=p.booked_on,
            amount=p.amount,
            payer_name=p.payer_name,
            payer_account=p.payer_account,
            memo=p.memo,
            serial=p.serial,
            dedupe_key=key,
        )
        for p, key in zip(parsed, keys, strict=True)
        if key not in existing
    ]
    # A concurrent import of the same file loses the race on the unique key, not the money.
    BankLine.objects.bulk_create(new, ignore_conflicts=True)
    added = BankLine.objects.filter(statement=statement)
    statement.lines_added = added.count()
    statement.lines_duplicate = len(parsed) - statement.lines_added
    statement.save(update_fields=["lines_added", "lines_duplicate"])
    if automatch:
        bank_lines_match(list(added.order_by("booked_on", "id")), user=user)
    return statement


def _record_and_allocate(line: BankLine, bill: Bill, amount: Decimal, *, user, force: bool):
    """A bank receipt for the line, allocated to the bill, through finance.collection."""
    from finance.collection import services as collection

    return collection.receipt_record(
        company=bill.company,
        tenant=bill.tenant,
        lease=bill.lease,
        amount=line.amount,
        method="bank",
        received_on=line.booked_on,
        today=max(line.booked_on, timezone.localdate()),
        payer_name=line.payer_name,
        # collection refuses a second receipt with the same bank reference unless forced
        reference=(line.serial or line.memo or f"BANK-LINE-{line.pk}")[:100],
        remarks=_("Bank statement line %(id)d: %(memo)s") % {"id": line.pk, "memo": line.memo},
        allocate=[(bill, amount)],
        force=force,
        user=user,
    )


@transaction.atomic
def bank_line_match(
    line: BankLine,
    *,
    bill: Bill | None = None,
    receipt: Receipt | None = None,
    user=None,
    auto: bool = False,
    force: bool = False,
) -> BankLine:
    """Match a line to an existing receipt, or to an open bill (recording the receipt).

    The line is locked first: two people (or a person and the auto-matcher) cannot both
    match it. A bill gets at most its outstanding amount; the rest of the money stays on
    the receipt as the tenant's credit.
    """
    line = BankLine.objects.select_for_update().get(pk=line.pk)
    if line.status not in (BankLineStatus.UNMATCHED, BankLineStatus.SUGGESTED):
        raise ValidationError(
            {"status": [_("This line is already %(s)s.") % {"s": line.get_status_display()}]}
        )
    if (bill is None) == (receipt is None):
        raise ValidationError({"bill": [_("Match the line to one bill or one receipt.")]})
    if receipt is not None:
        receipt = Receipt.objects.select_for_update().get(pk=receipt.pk)
        errors = {}
        if receipt.company_id != line.company_id:
            errors["receipt"] = [_("The receipt belongs to another company.")]
        elif receipt.kind not in (ReceiptKind.PAYMENT, ReceiptKind.DEPOSIT):
            errors["receipt"] = [_("Only a payment or deposit receipt backs a bank line.")]
        elif receipt.amount != line.amount:
            errors["receipt"] = [_("The receipt is %(r)s, the bank line %(l)s.") % {
                "r": receipt.amount, "l": line.amount}]  # fmt: skip
        elif BankLine.objects.filter(receipt=receipt).exists():
            errors["receipt"] = [_("The receipt is already matched to another bank line.")]
        if errors:
            raise ValidationError(errors)
    else:
        bill = Bill.objects.select_for_update().get(pk=bill.pk)
        if bill.company_id != line.company_id:
            raise ValidationError({"bill": [_("The bill belongs to another company.")]})
        outstanding = open_bills(line.company_id).filter(pk=bill.pk).values_list(
            "outstanding", flat=True
        ).first()  # fmt: skip
        if not outstanding:
            raise ValidationError({"bill": [_("Bill %(n)s is paid.") % {"n": bill.number}]})
        receipt = _record_and_allocate(
            line, bill, min(line.amount, outstanding), user=user, force=force
        )
    line.receipt = receipt
    line.status = BankLineStatus.MATCHED
    line.auto_matched = auto
    line.matched_at = timezone.now()
    line.matched_by = _actor(user)
    line.save()
    return line


@transaction.atomic
def bank_line_ignore(line: BankLine, *, reason: str = "", user=None) -> BankLine:
    """Set aside a line that is not tenants' money (interest, a transfer between accounts)."""
    line = BankLine.objects.select_for_update().get(pk=line.pk)
    if line.status == BankLineStatus.MATCHED:
        raise ValidationError({"status": [_("A matched line cannot be ignored.")]})
    line.status = BankLineStatus.IGNORED
    line.reasons = [*line.reasons, _("ignored: %(r)s") % {"r": reason.strip() or "-"}]
    line.matched_by = _actor(user)
    line.save(update_fields=["status", "reasons", "matched_by"])
    return line
