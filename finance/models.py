"""Receivables: bills (应收账单) and their lines, posted from the contracts' terms.

A bill is one lease's charges for one billing period (or one adjustment, meter bill,
turnover bill or late fee). A posted bill is never changed: a correction is a new
credit or debit bill that names the bill it corrects and why. What a tenant still owes
on a bill is its amount less the allocations of receipts to it (`finance.collection`).

Money is `Decimal` yuan with two places, rounded to the fen per line with
ROUND_HALF_UP; amounts are tax-inclusive (`amount = net + tax`). Billing periods are
half-open `[period_start, period_end)` local dates, as in the rent engine.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from leasing.models import Lease, Tenant
from spatial.models import Company, Unit
from spatial.querysets import RestrictedQuerySet

MONEY = {"max_digits": 16, "decimal_places": 2}
RATE = {"max_digits": 7, "decimal_places": 4}  # 0.0900 = 9 %


class BillKind(models.TextChoices):
    REGULAR = "regular", _("Periodic bill")
    METER = "meter", _("Metered utilities")
    TURNOVER = "turnover", _("Turnover rent")
    LATE_FEE = "late_fee", _("Late fee")
    DEBIT = "debit", _("Debit adjustment")
    CREDIT = "credit", _("Credit adjustment")


class Bill(models.Model):
    """应收账单: what one lease owes for one period or one event, posted once."""

    company = models.ForeignKey(
        Company, models.PROTECT, related_name="bills", verbose_name=_("landlord company")
    )
    lease = models.ForeignKey(Lease, models.PROTECT, related_name="bills", verbose_name=_("lease"))
    tenant = models.ForeignKey(
        Tenant, models.PROTECT, related_name="bills", verbose_name=_("tenant")
    )
    number = models.CharField(_("bill number"), max_length=40, unique=True)
    kind = models.CharField(_("kind"), max_length=10, choices=BillKind.choices)
    period_start = models.DateField(_("period start"))
    period_end = models.DateField(_("period end (exclusive)"))
    due_date = models.DateField(_("due date"))
    amount = models.DecimalField(_("amount (tax included)"), **MONEY)
    net = models.DecimalField(_("amount before tax"), **MONEY)
    tax = models.DecimalField(_("VAT"), **MONEY)
    corrects = models.ForeignKey(
        "self",
        models.PROTECT,
        null=True,
        blank=True,
        related_name="corrections",
        verbose_name=_("corrects bill"),
    )
    reason = models.TextField(_("reason"), blank=True)
    posted_at = models.DateTimeField(_("posted at"), auto_now_add=True)
    posted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("posted by"),
    )

    objects = RestrictedQuerySet.as_manager()
    scope_field = "company"

    class Meta:
        verbose_name = _("bill")
        verbose_name_plural = _("bills")
        ordering = ["-period_start", "number"]
        constraints = [
            models.CheckConstraint(
                condition=Q(period_end__gte=F("period_start")), name="bill_period_order"
            ),
            models.CheckConstraint(condition=Q(amount=F("net") + F("tax")), name="bill_net_tax"),
            models.CheckConstraint(
                condition=Q(kind="credit", amount__lte=0) | (~Q(kind="credit") & Q(amount__gte=0)),
                name="bill_sign_by_kind",
            ),
        ]
        indexes = [
            models.Index(fields=["company", "due_date"], name="bill_company_due"),
            models.Index(fields=["lease", "period_start"], name="bill_lease_period"),
            models.Index(fields=["tenant", "due_date"], name="bill_tenant_due"),
        ]

    def __str__(self) -> str:
        return self.number


class BillLine(models.Model):
    """One charge item of a bill, with how it was computed (`trace`)."""

    bill = models.ForeignKey(Bill, models.CASCADE, related_name="lines", verbose_name=_("bill"))
    item = models.CharField(_("charge item"), max_length=20)
    description = models.CharField(_("description"), max_length=200, blank=True)
    unit = models.ForeignKey(
        Unit, models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("unit")
    )
    period_start = models.DateField(_("period start"))
    period_end = models.DateField(_("period end (exclusive)"))
    amount = models.DecimalField(_("amount (tax included)"), **MONEY)
    net = models.DecimalField(_("amount before tax"), **MONEY)
    tax = models.DecimalField(_("VAT"), **MONEY)
    vat_rate = models.DecimalField(_("VAT rate"), **RATE)
    tax_code = models.CharField(_("tax classification code"), max_length=19, blank=True)
    trace = models.JSONField(_("calculation trace"), default=dict, blank=True)

    class Meta:
        verbose_name = _("bill line")
        verbose_name_plural = _("bill lines")
        ordering = ["bill", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount=F("net") + F("tax")), name="bill_line_net_tax"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.bill_id}:{self.item} {self.amount}"
