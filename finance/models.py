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
    run = models.ForeignKey(
        "BillingRun",
        models.PROTECT,
        null=True,
        blank=True,
        related_name="bills",
        verbose_name=_("posted by billing run"),
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
            # A lease's periodic, meter and turnover bills are posted once per period: the
            # database, not only the billing run, keeps a rerun from billing twice.
            models.UniqueConstraint(
                fields=["lease", "kind", "period_start"],
                condition=Q(kind__in=["regular", "meter", "turnover"]),
                name="bill_once_per_period",
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


# -- configuration -----------------------------------------------------------------------------


class ChargeItemCode(models.TextChoices):
    """Every charge item a bill line may carry: the contract's items, utilities and fees."""

    RENT = "rent", _("Rent")
    PROPERTY_FEE = "property_fee", _("Property fee")
    PARKING = "parking", _("Parking")
    ADVERTISING = "advertising", _("Advertising space")
    OTHER = "other", _("Other charge")
    WATER = "water", _("Water")
    ELECTRICITY = "electricity", _("Electricity")
    GAS = "gas", _("Gas")
    COOLING = "cooling", _("Cooling")
    TURNOVER = "turnover", _("Turnover rent")
    LATE_FEE = "late_fee", _("Late fee")


class ChargeItemConfig(models.Model):
    """收费项目: the default VAT rate, tax classification code (税收分类编码) and pricing of a
    charge item. A contract's own rate (LeaseVersion.rent_vat_rate, LeaseCharge.vat_rate)
    wins; the code always comes from here, because e-invoices need it per line."""

    code = models.CharField(_("code"), max_length=20, unique=True, choices=ChargeItemCode.choices)
    name = models.CharField(_("name"), max_length=60)
    vat_rate = models.DecimalField(_("default VAT rate"), **RATE)
    tax_code = models.CharField(_("tax classification code"), max_length=19)
    tax_name = models.CharField(_("tax classification name"), max_length=100, blank=True)
    prices_include_tax = models.BooleanField(_("prices include VAT"), default=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = RestrictedQuerySet.as_manager()
    scope_field = None  # shared by every company

    class Meta:
        verbose_name = _("charge item")
        verbose_name_plural = _("charge items")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(vat_rate__gte=0, vat_rate__lt=1), name="chargeitem_vat_valid"
            ),
            models.CheckConstraint(
                condition=Q(tax_code__regex=r"^[0-9]{19}$"), name="chargeitem_tax_code_19_digits"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.vat_rate}"


# -- billing runs ------------------------------------------------------------------------------


class RunStatus(models.TextChoices):
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class BillingRun(models.Model):
    """One `run_billing` for a month (and a company's subtree, or all): what it posted,
    what it skipped and why. A rerun is a new run that posts nothing twice."""

    period = models.DateField(_("month (first day)"))
    company = models.ForeignKey(
        Company,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="billing_runs",
        verbose_name=_("company (with its subsidiaries)"),
    )
    status = models.CharField(
        _("status"), max_length=10, choices=RunStatus.choices, default=RunStatus.RUNNING
    )
    started_at = models.DateTimeField(_("started at"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("started by"),
    )
    leases = models.PositiveIntegerField(_("leases considered"), default=0)
    bills_posted = models.PositiveIntegerField(_("bills posted"), default=0)
    lines_posted = models.PositiveIntegerField(_("lines posted"), default=0)
    amount_posted = models.DecimalField(_("amount posted"), default=0, **MONEY)
    skipped = models.PositiveIntegerField(_("skipped"), default=0)
    summary = models.JSONField(_("summary"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)

    objects = RestrictedQuerySet.as_manager()
    scope_field = "company"

    class Meta:
        verbose_name = _("billing run")
        verbose_name_plural = _("billing runs")
        ordering = ["-started_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(period__day=1), name="billingrun_period_month"),
        ]

    def __str__(self) -> str:
        return f"{self.period:%Y-%m} {self.status}"


# -- abatements --------------------------------------------------------------------------------


class AbatementKind(models.TextChoices):
    AMOUNT = "amount", _("Amount")
    PERCENT = "percent", _("Percentage")


class ApprovalStatus(models.TextChoices):
    PENDING = "pending", _("Pending approval")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")


class Abatement(models.Model):
    """减免: a reduction of a lease's charges for a period, by amount or percentage.

    Requested by one user and approved by another; once approved it reduces the period's
    bill when it is posted (a negative line), or, when the bill is already posted, it is
    granted as a credit bill that corrects it.
    """

    company = models.ForeignKey(
        Company, models.PROTECT, related_name="abatements", verbose_name=_("landlord company")
    )
    lease = models.ForeignKey(
        Lease, models.PROTECT, related_name="abatements", verbose_name=_("lease")
    )
    period_start = models.DateField(_("period start"))
    period_end = models.DateField(_("period end (exclusive)"))
    item = models.CharField(
        _("charge item"),
        max_length=20,
        blank=True,
        choices=ChargeItemCode.choices,
        help_text=_("Empty: every item of the bill."),
    )
    kind = models.CharField(_("kind"), max_length=8, choices=AbatementKind.choices)
    value = models.DecimalField(
        _("amount or rate"), max_digits=16, decimal_places=4, help_text=_("0.5 for 50 %")
    )
    reason = models.TextField(_("reason"))
    status = models.CharField(
        _("status"), max_length=10, choices=ApprovalStatus.choices, default=ApprovalStatus.PENDING
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    requested_at = models.DateTimeField(_("requested at"), auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_note = models.CharField(_("decision note"), max_length=255, blank=True)
    bill = models.ForeignKey(
        Bill,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="abatements",
        verbose_name=_("applied in bill"),
    )

    objects = RestrictedQuerySet.as_manager()
    scope_field = "company"

    class Meta:
        verbose_name = _("abatement")
        verbose_name_plural = _("abatements")
        ordering = ["-requested_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(period_end__gt=F("period_start")), name="abatement_period_valid"
            ),
            models.CheckConstraint(
                condition=Q(kind="amount", value__gt=0)
                | Q(kind="percent", value__gt=0, value__lte=1),
                name="abatement_value_valid",
            ),
            models.CheckConstraint(
                condition=Q(bill__isnull=True) | Q(status="approved"),
                name="abatement_applied_when_approved",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.lease_id} {self.period_start} {self.kind} {self.value}"


# -- meters ------------------------------------------------------------------------------------


class MeterKind(models.TextChoices):
    WATER = "water", _("Water")
    ELECTRICITY = "electricity", _("Electricity")
    GAS = "gas", _("Gas")
    COOLING = "cooling", _("Cooling")


class Meter(models.Model):
    """水电气冷表: a meter on a unit; its consumption is billed to the unit's tenant."""

    company = models.ForeignKey(
        Company, models.PROTECT, related_name="meters", verbose_name=_("company")
    )
    unit = models.ForeignKey(Unit, models.PROTECT, related_name="meters", verbose_name=_("unit"))
    kind = models.CharField(_("kind"), max_length=12, choices=MeterKind.choices)
    serial = models.CharField(_("serial number"), max_length=40)
    multiplier = models.DecimalField(
        _("multiplier (倍率)"), default=1, max_digits=10, decimal_places=2
    )
    max_reading = models.DecimalField(
        _("highest reading before rollover"),
        null=True,
        blank=True,
        max_digits=14,
        decimal_places=2,
        help_text=_(
            "Where the register starts again at 0: 100000 for five digits; empty if never."
        ),
    )
    installed_on = models.DateField(_("installed on"))
    replaced_on = models.DateField(_("last replaced on"), null=True, blank=True)
    active = models.BooleanField(_("in use"), default=True)

    objects = RestrictedQuerySet.as_manager()
    scope_field = "company"

    class Meta:
        verbose_name = _("meter")
        verbose_name_plural = _("meters")
        ordering = ["unit_id", "kind", "serial"]
        constraints = [
            models.UniqueConstraint(fields=["company", "serial"], name="meter_serial_unique"),
            models.CheckConstraint(condition=Q(multiplier__gt=0), name="meter_multiplier_positive"),
            models.CheckConstraint(
                condition=Q(max_reading__isnull=True) | Q(max_reading__gt=0),
                name="meter_max_reading_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.serial}"


class ReadingSource(models.TextChoices):
    READ = "read", _("Read")
    ESTIMATED = "estimated", _("Estimated")


class MeterReading(models.Model):
    """抄表: a register value on a date. Its `consumption` (since the previous reading,
    multiplier not applied) is fixed when it is recorded; an estimated reading stands in
    for a missing one and the next actual reading trues it up."""

    meter = models.ForeignKey(Meter, models.PROTECT, related_name="readings")
    read_on = models.DateField(_("read on"))
    value = models.DecimalField(_("reading"), max_digits=14, decimal_places=2)
    source = models.CharField(
        _("source"), max_length=10, choices=ReadingSource.choices, default=ReadingSource.READ
    )
    consumption = models.DecimalField(_("consumption"), max_digits=14, decimal_places=2)
    rollover = models.BooleanField(_("register rolled over"), default=False)
    replaced = models.BooleanField(_("meter replaced"), default=False)
    old_final = models.DecimalField(
        _("old meter's final reading"), null=True, blank=True, max_digits=14, decimal_places=2
    )
    new_initial = models.DecimalField(
        _("new meter's initial reading"), null=True, blank=True, max_digits=14, decimal_places=2
    )
    flagged = models.BooleanField(_("unusual jump"), default=False)
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    bill = models.ForeignKey(
        Bill,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="meter_readings",
        verbose_name=_("billed in"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = RestrictedQuerySet.as_manager()
    scope_field = "meter__company"

    class Meta:
        verbose_name = _("meter reading")
        verbose_name_plural = _("meter readings")
        ordering = ["meter_id", "read_on"]
        constraints = [
            models.UniqueConstraint(fields=["meter", "read_on"], name="meterreading_unique_day"),
            models.CheckConstraint(condition=Q(value__gte=0), name="meterreading_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.meter_id} {self.read_on}: {self.value}"


class Tariff(models.Model):
    """能耗单价: the price of a unit of water, electricity, gas or cooling, tax included,
    from a date. A company's own tariff wins over its parent's."""

    company = models.ForeignKey(
        Company, models.PROTECT, related_name="tariffs", verbose_name=_("company")
    )
    kind = models.CharField(_("kind"), max_length=12, choices=MeterKind.choices)
    price = models.DecimalField(_("price per unit"), max_digits=14, decimal_places=4)
    vat_rate = models.DecimalField(_("VAT rate"), **RATE)
    effective_from = models.DateField(_("effective from"))

    objects = RestrictedQuerySet.as_manager()
    scope_field = "company"

    class Meta:
        verbose_name = _("tariff")
        verbose_name_plural = _("tariffs")
        ordering = ["company_id", "kind", "-effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["company", "kind", "effective_from"], name="tariff_unique"
            ),
            models.CheckConstraint(condition=Q(price__gte=0), name="tariff_price_not_negative"),
            models.CheckConstraint(
                condition=Q(vat_rate__gte=0, vat_rate__lt=1), name="tariff_vat_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.price} from {self.effective_from}"
