"""E-invoice requests: made from posted bills, submitted to the tax platform, results
imported back, reversed by red letter. Each write is atomic and validated first."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from finance.invoicing import conf
from finance.invoicing.adapters import IssueResult, TaxPlatform
from finance.invoicing.models import (
    HOLDING_STATUSES,
    InvoiceKind,
    InvoiceRequest,
    InvoiceRequestItem,
    InvoiceStatus,
    InvoiceType,
)
from finance.models import Bill, BillKind, BillLine, ChargeItemConfig
from leasing.models import LeaseUnit
from portfolio.choices import DocumentKind
from portfolio.models import Document
from spatial.models import Building, Unit

#: 数电 invoice numbers are 20 digits.
INVOICE_NUMBER = re.compile(r"^\d{20}$")
BUYER_FIELDS = ("buyer_address", "buyer_phone", "buyer_bank", "buyer_account", "buyer_email")


def _actor(user):
    return user if getattr(user, "is_authenticated", False) else None


def _next_number(prefix: str, sequence: str, on: date) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(%s)", [sequence])
        (seq,) = cursor.fetchone()
    return f"{prefix}{on:%Y%m}-{seq:08d}"


def property_address(unit: Unit) -> str:
    """The address printed for a leased unit: the building's (or site's) address and room."""
    building = unit.building
    street = building.address or unit.site.address
    return " ".join(p for p in (street, building.name, unit.name) if p)[:200]


def property_certificate(unit: Unit) -> str:
    """The title certificate number (不动产权证号) of the unit, or else of its building."""
    from django.contrib.contenttypes.models import ContentType

    for model, pk in ((Unit, unit.pk), (Building, unit.building_id)):
        number = (
            Document.objects.filter(
                kind=DocumentKind.PROPERTY_CERTIFICATE,
                content_type=ContentType.objects.get_for_model(model),
                object_id=pk,
            )
            .exclude(number="")
            .order_by("-issue_date", "-created_at")
            .values_list("number", flat=True)
            .first()
        )
        if number:
            return number[:80]
    return ""


def _units_of(line: BillLine) -> list[Unit]:
    if line.unit_id:
        return [line.unit]
    lines = LeaseUnit.objects.filter(lease_id=line.bill.lease_id, current=True).select_related(
        "unit__building", "unit__site"
    )
    return [lu.unit for lu in lines]


def _item_for(line: BillLine, configured: dict[str, str]) -> InvoiceRequestItem:
    short, name, default_code = conf.item_spec(line.item)
    code = line.tax_code or configured.get(line.item) or default_code
    item = InvoiceRequestItem(
        bill_line=line,
        bill=line.bill,
        name=f"*{short}*{name}",
        tax_code=code,
        specification=(line.description or "")[:40],
        amount=line.amount,
        net=line.net,
        tax=line.tax,
        vat_rate=line.vat_rate,
    )
    if code.startswith(conf.LEASING_TAX_CODE_PREFIX):
        # 不动产经营租赁: the law asks for the property's address and the period leased.
        units = _units_of(line)
        item.property_address = "；".join(property_address(u) for u in units)[:200]
        item.property_certificate = "；".join(
            c for c in (property_certificate(u) for u in units) if c
        )[:80]
        item.lease_start = line.period_start
        item.lease_end = max(line.period_end - timedelta(days=1), line.period_start)
    return item


def _held_by(line_ids: Sequence[int]) -> dict[int, str]:
    held = InvoiceRequestItem.objects.filter(bill_line_id__in=line_ids, holds=True)
    return dict(held.values_list("bill_line_id", "request__number"))


@transaction.atomic
def invoice_request_create(
    *,
    bills: Sequence[Bill],
    invoice_type: str,
    user=None,
    remarks: str = "",
    buyer: dict | None = None,
) -> InvoiceRequest:
    """A draft request to invoice these posted bills of one tenant, all lines at once.

    A bill line already on a live invoice (draft, submitted or issued, not red-reversed)
    is refused, so the same money is never invoiced twice.
    """
    bills = list(bills)
    buyer = {k: (v or "").strip() for k, v in (buyer or {}).items() if k in BUYER_FIELDS}
    if not bills:
        raise ValidationError({"bills": [_("Choose at least one bill.")]})
    if invoice_type not in InvoiceType.values:
        raise ValidationError({"invoice_type": [_("Choose a special or a normal invoice.")]})
    if len({b.company_id for b in bills}) > 1 or len({b.tenant_id for b in bills}) > 1:
        raise ValidationError(
            {"bills": [_("One invoice covers the bills of one company and one tenant.")]}
        )
    credits = [b.number for b in bills if b.kind == BillKind.CREDIT or b.amount < 0]
    if credits:
        raise ValidationError(
            {
                "bills": [
                    _("Credit bills are not invoiced (reverse the invoice instead): %(n)s.")
                    % {"n": ", ".join(credits)}
                ]
            }
        )
    first = bills[0]
    tenant, company = first.tenant, first.company
    if invoice_type == InvoiceType.SPECIAL and not tenant.uscc:
        raise ValidationError(
            {
                "invoice_type": [
                    _("A special VAT invoice needs a buyer with a taxpayer ID; %(t)s has none.")
                    % {"t": tenant.name}
                ]
            }
        )
    # Lock the lines: two requests for the same bill wait for each other here.
    lines = list(
        BillLine.objects.select_for_update(of=("self",))
        .filter(bill__in=bills)
        .exclude(amount=0)
        .select_related("bill", "unit__building", "unit__site")
        .order_by("bill__period_start", "bill_id", "id")
    )
    if not lines:
        raise ValidationError({"bills": [_("These bills have nothing to invoice.")]})
    held = _held_by([line.pk for line in lines])
    if held:
        taken = sorted(
            {f"{line.bill.number} ({held[line.pk]})" for line in lines if line.pk in held}
        )
        raise ValidationError(
            {"bills": [_("Already on an invoice: %(bills)s.") % {"bills": ", ".join(taken)}]}
        )
    configured = dict(ChargeItemConfig.objects.values_list("code", "tax_code"))
    items = [_item_for(line, configured) for line in lines]
    leases = {b.lease_id for b in bills}
    default_remarks = " ".join(
        [_("Bills") + ":", *sorted(b.number for b in bills)]
        + ([_("Contract") + ":", first.lease.number] if len(leases) == 1 else [])
    )
    request = InvoiceRequest(
        company=company,
        tenant=tenant,
        lease_id=first.lease_id if len(leases) == 1 else None,
        number=_next_number("KP", "invoicing_request_number_seq", timezone.localdate()),
        kind=InvoiceKind.BLUE,
        invoice_type=invoice_type,
        seller_name=company.name,
        seller_tax_id=company.uscc,
        buyer_name=tenant.name,
        buyer_tax_id=tenant.uscc,
        amount=sum((i.amount for i in items), Decimal(0)),
        net=sum((i.net for i in items), Decimal(0)),
        tax=sum((i.tax for i in items), Decimal(0)),
        remarks=(remarks.strip() or default_remarks)[:230],
        created_by=_actor(user),
        **buyer,
    )
    request.full_clean(exclude=["company", "tenant", "lease", "original", "created_by"])
    request.save()
    for item in items:
        item.request = request
    try:
        with transaction.atomic():
            InvoiceRequestItem.objects.bulk_create(items)
    except IntegrityError as exc:  # a concurrent request took a line between check and write
        raise ValidationError({"bills": [_("A bill line is already on an invoice.")]}) from exc
    return request


def _release(request: InvoiceRequest) -> None:
    request.items.filter(holds=True).update(holds=False)


def _locked(request: InvoiceRequest) -> InvoiceRequest:
    return InvoiceRequest.objects.select_for_update().get(pk=request.pk)


@transaction.atomic
def invoice_request_cancel(request: InvoiceRequest, *, user=None) -> InvoiceRequest:
    """Withdraw a draft or failed request; its bill lines may be invoiced again."""
    request = _locked(request)
    if request.status not in (InvoiceStatus.DRAFT, InvoiceStatus.FAILED):
        raise ValidationError(
            {"status": [_("Only a draft or failed request can be cancelled; use a red letter.")]}
        )
    request.status = InvoiceStatus.CANCELLED
    request.save(update_fields=["status"])
    _release(request)
    return request


def invoice_requests_submit(
    *,
    requests: Sequence[InvoiceRequest] | None = None,
    platform: TaxPlatform | None = None,
) -> list[InvoiceRequest]:
    """Hand drafts to the tax platform in one batch; they become submitted.

    `requests` defaults to every draft. The batch is written before the statuses are
    saved, in one transaction: if the platform refuses, nothing changes.
    """
    platform = platform or conf.tax_platform()
    with transaction.atomic():
        ids = [r.pk for r in requests] if requests is not None else None
        query = InvoiceRequest.objects.select_for_update(skip_locked=True, of=("self",))
        query = query.filter(pk__in=ids) if ids is not None else query
        locked = list(
            query.filter(status=InvoiceStatus.DRAFT).select_related("original").order_by("id")
        )
        if requests is not None and len(locked) != len(set(ids)):
            raise ValidationError({"status": [_("Only draft requests can be submitted.")]})
        if not locked:
            return []
        reference = platform.submit(locked)
        now = timezone.now()
        for request in locked:
            request.status = InvoiceStatus.SUBMITTED
            request.submitted_at = now
            request.outbox_file = reference[:200]
        InvoiceRequest.objects.bulk_update(locked, ["status", "submitted_at", "outbox_file"])
    return locked


@transaction.atomic
def invoice_result_apply(
    request: InvoiceRequest,
    *,
    issued: bool,
    invoice_number: str = "",
    invoice_date: date | None = None,
    reason: str = "",
) -> InvoiceRequest:
    """Record what the platform did with a request: issued (number, date) or failed.

    An issued red letter marks the original reversed and frees its bill lines. Applying
    the same result twice changes nothing.
    """
    request = _locked(request)
    invoice_number = (invoice_number or "").strip()
    if request.status == InvoiceStatus.ISSUED and issued:
        if invoice_number == request.invoice_number:
            return request  # the same result again
        raise ValidationError(
            {
                "invoice_number": [
                    _("This request was already issued as %(n)s.") % {"n": request.invoice_number}
                ]
            }  # fmt: skip
        )
    if request.status not in (InvoiceStatus.SUBMITTED, InvoiceStatus.DRAFT, InvoiceStatus.FAILED):
        raise ValidationError(
            {
                "status": [
                    _("A %(s)s request takes no result.") % {"s": request.get_status_display()}
                ]
            }
        )
    if not issued:
        request.status = InvoiceStatus.FAILED
        request.failure_reason = reason or _("No reason given.")
        request.issued_at = timezone.now()
        request.save(update_fields=["status", "failure_reason", "issued_at"])
        if request.kind == InvoiceKind.BLUE:
            _release(request)
        return request
    errors = {}
    if not INVOICE_NUMBER.match(invoice_number):
        errors["invoice_number"] = [_("A digital invoice number has 20 digits.")]
    elif (
        InvoiceRequest.objects.filter(invoice_number=invoice_number).exclude(pk=request.pk).exists()
    ):
        errors["invoice_number"] = [_("This invoice number is already recorded.")]
    if invoice_date is None:
        errors["invoice_date"] = [_("Give the invoice date.")]
    if errors:
        raise ValidationError(errors)
    if request.kind == InvoiceKind.BLUE and request.status == InvoiceStatus.FAILED:
        # A failed request released its lines; take them back, unless invoiced meanwhile.
        line_ids = list(request.items.values_list("bill_line_id", flat=True))
        if _held_by(line_ids):
            raise ValidationError({"status": [_("Its bill lines were invoiced meanwhile.")]})
        request.items.update(holds=True)
    request.status = InvoiceStatus.ISSUED
    request.invoice_number = invoice_number
    request.invoice_date = invoice_date
    request.failure_reason = ""
    request.issued_at = timezone.now()
    request.save(
        update_fields=["status", "invoice_number", "invoice_date", "failure_reason", "issued_at"]
    )
    if request.kind == InvoiceKind.RED:
        original = _locked(request.original)
        original.status = InvoiceStatus.REVERSED
        original.save(update_fields=["status"])
        _release(original)
    return request


def invoice_results_import(*, platform: TaxPlatform | None = None) -> dict:
    """Read the platform's results and apply each; returns counts and errors by source.

    Each source (a file) is applied in its own transaction and acknowledged only when
    every result in it was applied, so a bad file is kept for a person to look at.
    """
    platform = platform or conf.tax_platform()
    fetched = platform.fetch_results()
    errors: dict[str, list[str]] = {k: [v] for k, v in fetched.errors.items()}
    by_source: dict[str, list[IssueResult]] = {}
    for result in fetched.results:
        by_source.setdefault(result.source, []).append(result)
    counts = {"issued": 0, "failed": 0}
    done = []
    for source, results in by_source.items():
        try:
            with transaction.atomic():
                applied = {"issued": 0, "failed": 0}
                for result in results:
                    request = InvoiceRequest.objects.filter(number=result.request_number).first()
                    if request is None:
                        raise ValidationError(
                            {
                                "request_number": [
                                    _("No request %(n)s.") % {"n": result.request_number}
                                ]
                            }
                        )
                    invoice_result_apply(
                        request,
                        issued=result.issued,
                        invoice_number=result.invoice_number,
                        invoice_date=result.invoice_date,
                        reason=result.reason,
                    )
                    applied["issued" if result.issued else "failed"] += 1
        except ValidationError as exc:
            errors[source] = [f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items()]
            continue
        done.append(source)
        for key, value in applied.items():
            counts[key] += value
    platform.acknowledge(done)
    return {**counts, "files": len(done), "errors": errors}


@transaction.atomic
def invoice_red_reverse(
    original: InvoiceRequest, *, reason: str, confirmation_number: str = "", user=None
) -> InvoiceRequest:
    """A draft red-letter (红字) request reversing an issued invoice in full.

    On the 数电 platform the buyer or seller first files a 红字发票信息确认单; its number
    goes with the red invoice. When the red invoice is issued the original's bill lines
    are free to be invoiced again.
    """
    original = _locked(original)
    errors = {}
    if original.kind != InvoiceKind.BLUE or original.status != InvoiceStatus.ISSUED:
        errors["status"] = [_("Only an issued blue invoice can be reversed.")]
    elif original.reversals.exclude(
        status__in=[InvoiceStatus.FAILED, InvoiceStatus.CANCELLED]
    ).exists():
        errors["status"] = [_("This invoice already has a red-letter reversal.")]
    if not (reason or "").strip():
        errors["reason"] = [_("Give the reason for the reversal.")]
    if errors:
        raise ValidationError(errors)
    red = InvoiceRequest.objects.create(
        company=original.company,
        tenant=original.tenant,
        lease=original.lease,
        number=_next_number("HZ", "invoicing_request_number_seq", timezone.localdate()),
        kind=InvoiceKind.RED,
        invoice_type=original.invoice_type,
        seller_name=original.seller_name,
        seller_tax_id=original.seller_tax_id,
        buyer_name=original.buyer_name,
        buyer_tax_id=original.buyer_tax_id,
        **{f: getattr(original, f) for f in BUYER_FIELDS},
        amount=-original.amount,
        net=-original.net,
        tax=-original.tax,
        remarks=(
            _("Reverses invoice %(n)s.") % {"n": original.invoice_number} + " " + reason.strip()
        )[:230],
        original=original,
        red_reason=reason.strip()[:200],
        red_confirmation_number=(confirmation_number or "").strip()[:40],
        created_by=_actor(user),
    )
    InvoiceRequestItem.objects.bulk_create(
        [
            InvoiceRequestItem(
                request=red,
                bill_line_id=item.bill_line_id,
                bill_id=item.bill_id,
                holds=False,
                name=item.name,
                tax_code=item.tax_code,
                specification=item.specification,
                measure_unit=item.measure_unit,
                quantity=-item.quantity if item.quantity is not None else None,
                unit_price=item.unit_price,
                amount=-item.amount,
                net=-item.net,
                tax=-item.tax,
                vat_rate=item.vat_rate,
                property_address=item.property_address,
                property_certificate=item.property_certificate,
                lease_start=item.lease_start,
                lease_end=item.lease_end,
            )
            for item in original.items.all()
        ]
    )
    return red


__all__ = [
    "HOLDING_STATUSES",
    "invoice_red_reverse",
    "invoice_request_cancel",
    "invoice_request_create",
    "invoice_requests_submit",
    "invoice_result_apply",
    "invoice_results_import",
]
