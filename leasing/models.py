"""Tenants, lease contracts and their versions, rent terms, turnover, move-outs.

A lease (租赁合同) is a header — number, landlord company, tenant, status, deposit — and
one or more versions (合同版本). Version 1 holds the terms as signed; every amendment
adds a version with an `effective_from` date. The terms of a version are its rent steps
(阶梯租金), free-rent periods (免租期), other recurring charges (物业费, 停车费, 广告位) and
its lease lines: one `LeaseUnit` per unit, with the leased area and the days that version
holds the unit.

Dates a contract states are inclusive, as written on paper ("2025-01-01 至 2027-12-31"):
`start_date`, `end_date`, a free period's `end_date`, the move-out date. Periods the
rent engine bills, a lease line's `period` and turnover reports are half-open
`[start, end)`. A lease line's period is `[version start, next version start)`, cut at the
move-out; the exclusion constraint keeps two holding lines of one unit from overlapping.
"""

from django.conf import settings
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import DateRangeField, RangeOperators
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from leasing import choices
from spatial.choices import UnitUse
from spatial.models import Company, Unit
from spatial.querysets import RestrictedQuerySet

MONEY = {"max_digits": 16, "decimal_places": 2}
RATE = {"max_digits": 7, "decimal_places": 4}  # 0.0900 = 9 %
PRICE = {"max_digits": 14, "decimal_places": 4}  # unit prices keep 4 places (2.8500 元/㎡/天)
AREA = {"max_digits": 12, "decimal_places": 2}


class Tenant(models.Model):
    """承租方: a company (with its unified social credit code) or an individual (ID card).

    A tenant is registered by a landlord company and may lease within that company's
    subtree.
    """

    company = models.ForeignKey(
        Company, models.PROTECT, related_name="tenants", verbose_name=_("landlord company")
    )
    kind = models.CharField(_("kind"), max_length=12, choices=choices.TenantKind.choices)
    name = models.CharField(_("name"), max_length=200)
    uscc = models.CharField(_("unified social credit code"), max_length=18, blank=True)
    id_number = models.CharField(_("ID card number"), max_length=18, blank=True)
    contact_name = models.CharField(_("contact person"), max_length=60, blank=True)
    phone = models.CharField(_("phone"), max_length=20, blank=True)
    email = models.EmailField(_("email"), blank=True)
    industry = models.CharField(_("industry"), max_length=60, blank=True)
    size = models.CharField(
        _("size"), max_length=10, choices=choices.TenantSize.choices, default="small"
    )
    credit_rating = models.CharField(
        _("credit rating"),
        max_length=1,
        choices=choices.CreditRating.choices,
        default=choices.CreditRating.A,
    )
    remarks = models.TextField(_("remarks"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    history = HistoricalRecords()

    objects = RestrictedQuerySet.as_manager()
    scope_field = "company"

    class Meta:
        verbose_name = _("tenant")
        verbose_name_plural = _("tenants")
        ordering = ["name", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="individual") | ~Q(uscc=""), name="tenant_company_has_uscc"
            ),
            models.CheckConstraint(
                condition=Q(kind="company") | ~Q(id_number=""), name="tenant_person_has_id"
            ),
            models.UniqueConstraint(
                fields=["company", "uscc"], condition=~Q(uscc=""), name="tenant_uscc_unique"
            ),
            models.UniqueConstraint(
                fields=["company", "id_number"],
                condition=~Q(id_number=""),
                name="tenant_id_number_unique",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Lease(models.Model):
    """租赁合同: the header of a contract; its terms are in its versions."""

    company = models.ForeignKey(
        Company, models.PROTECT, related_name="leases", verbose_name=_("landlord company")
    )
    number = models.CharField(_("contract number"), max_length=64, unique=True)
    tenant = models.ForeignKey(
        Tenant, models.PROTECT, related_name="leases", verbose_name=_("tenant")
    )
    use = models.CharField(_("use"), max_length=20, choices=UnitUse.choices)
    status = models.CharField(
        _("status"),
        max_length=12,
        choices=choices.LeaseStatus.choices,
        default=choices.LeaseStatus.DRAFT,
    )
    signed_on = models.DateField(_("signing date"), null=True, blank=True)
    # The current version's term, repeated here for lists, filters and the map.
    start_date = models.DateField(_("start date"))
    end_date = models.DateField(_("end date (last day)"))
    deposit_amount = models.DecimalField(_("deposit (押金)"), default=0, **MONEY)
    deposit_received = models.DecimalField(_("deposit received"), default=0, **MONEY)
    deposit_received_on = models.DateField(_("deposit received on"), null=True, blank=True)
    renewal_of = models.OneToOneField(
        "self",
        models.PROTECT,
        null=True,
        blank=True,
        related_name="renewed_by",
        verbose_name=_("renewal of"),
    )
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    submitted_at = models.DateTimeField(_("submitted at"), null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("approved by"),
    )
    approved_at = models.DateTimeField(_("approved at"), null=True, blank=True)
    move_out_date = models.DateField(_("move-out date (last day)"), null=True, blank=True)
    termination_kind = models.CharField(
        _("termination kind"), max_length=10, choices=choices.TerminationKind.choices, blank=True
    )
    closed_through = models.DateField(
        _("periods closed through"),
        null=True,
        blank=True,
        help_text=_("Billing periods ending on or before this date are posted and closed."),
    )
    remarks = models.TextField(_("remarks"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    history = HistoricalRecords()

    objects = RestrictedQuerySet.as_manager()
    scope_field = "company"

    class Meta:
        verbose_name = _("lease")
        verbose_name_plural = _("leases")
        ordering = ["-start_date", "number"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_date__gte=F("start_date")), name="lease_end_after_start"
            ),
            models.CheckConstraint(
                condition=Q(deposit_amount__gte=0) & Q(deposit_received__gte=0),
                name="lease_deposit_not_negative",
            ),
            models.CheckConstraint(condition=~Q(renewal_of=F("pk")), name="lease_not_own_renewal"),
        ]
        indexes = [
            models.Index(fields=["company", "status"], name="lease_company_status"),
            models.Index(fields=["status", "end_date"], name="lease_status_end"),
        ]

    def __str__(self) -> str:
        return self.number


class LeaseVersion(models.Model):
    """One version of a contract's terms, in force from `effective_from`."""

    lease = models.ForeignKey(Lease, models.CASCADE, related_name="versions")
    number = models.PositiveSmallIntegerField(_("version"))
    effective_from = models.DateField(_("effective from"))
    start_date = models.DateField(_("start date"))
    end_date = models.DateField(_("end date (last day)"))
    payment_cycle = models.PositiveSmallIntegerField(
        _("payment cycle (months)"),
        choices=choices.PaymentCycle.choices,
        default=choices.PaymentCycle.QUARTERLY,
    )
    bill_lead_days = models.PositiveSmallIntegerField(
        _("bill issued days before the period"), default=15
    )
    due_offset_days = models.SmallIntegerField(
        _("due days after the period starts"),
        default=0,
        help_text=_("0: due on the first day of the period; -10: ten days before it."),
    )
    monthly_basis = models.CharField(
        _("monthly rent from a daily price"),
        max_length=8,
        choices=choices.MonthlyBasis.choices,
        default=choices.MonthlyBasis.DAYS_365_12,
    )
    prices_include_tax = models.BooleanField(_("prices include VAT"), default=True)
    rent_vat_rate = models.DecimalField(_("rent VAT rate"), default="0.09", **RATE)
    escalation_rate = models.DecimalField(
        _("escalation rate"), default=0, help_text=_("0.05 for +5 %"), **RATE
    )
    escalation_every_months = models.PositiveSmallIntegerField(
        _("escalation every (months)"), null=True, blank=True
    )
    turnover_rate = models.DecimalField(_("turnover share (扣点)"), null=True, blank=True, **RATE)
    early_termination_penalty_months = models.DecimalField(
        _("early termination penalty (months of rent)"), default=0, max_digits=5, decimal_places=2
    )
    breach_penalty_months = models.DecimalField(
        _("breach penalty (months of rent)"), default=0, max_digits=5, decimal_places=2
    )
    deposit_forfeited_on_breach = models.BooleanField(
        _("deposit forfeited on breach"), default=False
    )
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = RestrictedQuerySet.as_manager()
    scope_field = "lease__company"

    class Meta:
        verbose_name = _("lease version")
        verbose_name_plural = _("lease versions")
        ordering = ["lease_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["lease", "number"], name="leaseversion_unique"),
            models.UniqueConstraint(
                fields=["lease", "effective_from"], name="leaseversion_unique_effective"
            ),
            models.CheckConstraint(
                condition=Q(end_date__gte=F("start_date")), name="leaseversion_end_after_start"
            ),
            models.CheckConstraint(
                condition=Q(payment_cycle__in=[1, 3, 6, 12]), name="leaseversion_cycle_valid"
            ),
            models.CheckConstraint(
                condition=Q(escalation_rate__gte=0)
                & (Q(escalation_rate=0) | Q(escalation_every_months__gt=0)),
                name="leaseversion_escalation_valid",
            ),
            models.CheckConstraint(
                condition=Q(turnover_rate__isnull=True)
                | Q(turnover_rate__gt=0, turnover_rate__lt=1),
                name="leaseversion_turnover_rate_valid",
            ),
            models.CheckConstraint(
                condition=Q(rent_vat_rate__gte=0, rent_vat_rate__lt=1),
                name="leaseversion_vat_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.lease.number} v{self.number}"


class RentStep(models.Model):
    """A rent price from `start_date` until the next step (or the end of the term).

    One step is a flat rent; several make a stepped schedule (阶梯租金).
    """

    version = models.ForeignKey(LeaseVersion, models.CASCADE, related_name="steps")
    start_date = models.DateField(_("from"))
    price = models.DecimalField(_("price"), **PRICE)
    basis = models.CharField(_("price basis"), max_length=12, choices=choices.PriceBasis.choices)

    class Meta:
        verbose_name = _("rent step")
        verbose_name_plural = _("rent steps")
        ordering = ["version_id", "start_date"]
        constraints = [
            models.UniqueConstraint(fields=["version", "start_date"], name="rentstep_unique"),
            models.CheckConstraint(condition=Q(price__gte=0), name="rentstep_price_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.start_date}: {self.price} {self.get_basis_display()}"


class FreePeriod(models.Model):
    """免租期: days without rent; other charges are due unless `covers_charges`."""

    version = models.ForeignKey(LeaseVersion, models.CASCADE, related_name="free_periods")
    start_date = models.DateField(_("from"))
    end_date = models.DateField(_("until (last free day)"))
    covers_charges = models.BooleanField(_("also waives other charges"), default=False)

    class Meta:
        verbose_name = _("free-rent period")
        verbose_name_plural = _("free-rent periods")
        ordering = ["version_id", "start_date"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_date__gte=F("start_date")), name="freeperiod_end_after_start"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.start_date} – {self.end_date}"


class LeaseCharge(models.Model):
    """A recurring charge besides rent: property fee, parking, advertising space."""

    version = models.ForeignKey(LeaseVersion, models.CASCADE, related_name="charges")
    item = models.CharField(_("item"), max_length=20, choices=choices.ChargeItem.choices)
    name = models.CharField(_("name"), max_length=60, blank=True)
    price = models.DecimalField(_("price"), **PRICE)
    basis = models.CharField(_("price basis"), max_length=12, choices=choices.PriceBasis.choices)
    quantity = models.DecimalField(
        _("quantity"),
        default=1,
        max_digits=10,
        decimal_places=2,
        help_text=_("Parking spaces or advertising panels, for a fixed monthly price."),
    )
    vat_rate = models.DecimalField(_("VAT rate"), **RATE)

    class Meta:
        verbose_name = _("recurring charge")
        verbose_name_plural = _("recurring charges")
        ordering = ["version_id", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(price__gte=0), name="leasecharge_price_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="leasecharge_quantity_positive"
            ),
            models.CheckConstraint(
                condition=Q(vat_rate__gte=0, vat_rate__lt=1), name="leasecharge_vat_valid"
            ),
            models.CheckConstraint(condition=~Q(item="rent"), name="leasecharge_not_rent"),
        ]

    def __str__(self) -> str:
        return self.name or self.get_item_display()


class LeaseUnit(models.Model):
    """A lease line: one unit of one version, with its leased area and the days it is held.

    `blocking` is true while the lease is approved, active or finished (expired or
    terminated, whose periods end at the move-out); drafts and submitted leases hold
    nothing. The exclusion constraint is the rule that a unit carries one lease at a time.
    """

    version = models.ForeignKey(LeaseVersion, models.CASCADE, related_name="lines")
    lease = models.ForeignKey(Lease, models.CASCADE, related_name="lines")
    unit = models.ForeignKey(Unit, models.PROTECT, related_name="lease_lines")
    area = models.DecimalField(_("leased area (m²)"), **AREA)
    rent_per_sqm_month = models.DecimalField(_("headline rent (元/m²/month)"), default=0, **PRICE)
    period = DateRangeField(_("period held"))
    blocking = models.BooleanField(_("holds the unit"), default=False)
    current = models.BooleanField(_("of the latest version"), default=True)

    objects = RestrictedQuerySet.as_manager()
    scope_field = "lease__company"

    class Meta:
        verbose_name = _("lease line")
        verbose_name_plural = _("lease lines")
        ordering = ["version_id", "unit_id"]
        constraints = [
            models.UniqueConstraint(fields=["version", "unit"], name="leaseunit_unique"),
            models.CheckConstraint(condition=Q(area__gt=0), name="leaseunit_area_positive"),
            ExclusionConstraint(
                name="leaseunit_no_overlap",
                expressions=[("unit", RangeOperators.EQUAL), ("period", RangeOperators.OVERLAPS)],
                condition=Q(blocking=True),
                violation_error_message=_("The unit already carries a lease for these dates."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.lease_id} · {self.unit_id}"


class TurnoverReport(models.Model):
    """营业额: turnover a tenant reports for a billing period `[period_start, period_end)`."""

    lease = models.ForeignKey(Lease, models.CASCADE, related_name="turnover_reports")
    period_start = models.DateField(_("period start"))
    period_end = models.DateField(_("period end (exclusive)"))
    amount = models.DecimalField(_("turnover"), **MONEY)
    reported_on = models.DateField(_("reported on"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = RestrictedQuerySet.as_manager()
    scope_field = "lease__company"

    class Meta:
        verbose_name = _("turnover report")
        verbose_name_plural = _("turnover reports")
        ordering = ["lease_id", "period_start"]
        constraints = [
            models.UniqueConstraint(fields=["lease", "period_start"], name="turnover_unique"),
            models.CheckConstraint(
                condition=Q(period_end__gt=F("period_start")), name="turnover_period_valid"
            ),
            models.CheckConstraint(condition=Q(amount__gte=0), name="turnover_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.lease_id} {self.period_start}: {self.amount}"


class LeaseSettlement(models.Model):
    """退租结算: what a move-out leaves owing or to refund; positive `balance` is owed."""

    lease = models.OneToOneField(Lease, models.PROTECT, related_name="settlement")
    kind = models.CharField(_("kind"), max_length=10, choices=choices.TerminationKind.choices)
    move_out_date = models.DateField(_("move-out date (last day)"))
    charges_due = models.DecimalField(_("charges due to the move-out"), **MONEY)
    paid = models.DecimalField(_("paid"), **MONEY)
    outstanding = models.DecimalField(_("outstanding"), **MONEY)
    penalty = models.DecimalField(_("penalty"), **MONEY)
    deposit_offset = models.DecimalField(_("deposit offset"), **MONEY)
    balance = models.DecimalField(_("balance (+ owed, − refund)"), **MONEY)
    lines = models.JSONField(_("lines"), default=list)
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = RestrictedQuerySet.as_manager()
    scope_field = "lease__company"

    class Meta:
        verbose_name = _("move-out settlement")
        verbose_name_plural = _("move-out settlements")

    def __str__(self) -> str:
        return f"{self.lease_id}: {self.balance}"


class LeaseEvent(models.Model):
    """An auditor-relevant change of a lease: who, when, what, why."""

    lease = models.ForeignKey(Lease, models.CASCADE, related_name="events")
    kind = models.CharField(_("kind"), max_length=20, choices=choices.LeaseEventKind.choices)
    on = models.DateField(_("business date"))
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    at = models.DateTimeField(_("at"), auto_now_add=True)
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    data = models.JSONField(_("data"), default=dict, blank=True)

    objects = RestrictedQuerySet.as_manager()
    scope_field = "lease__company"

    class Meta:
        verbose_name = _("lease event")
        verbose_name_plural = _("lease events")
        ordering = ["lease_id", "at", "pk"]

    def __str__(self) -> str:
        return f"{self.lease_id} {self.kind} {self.on}"


class UnitListing(models.Model):
    """Leasing's notes on a unit: its asking rent, and why and since when it is vacant."""

    unit = models.OneToOneField(Unit, models.CASCADE, related_name="listing")
    asking_rent = models.DecimalField(
        _("asking rent (元/m²/month)"), null=True, blank=True, **PRICE
    )
    vacant_since = models.DateField(_("vacant since"), null=True, blank=True)
    vacancy_reason = models.CharField(
        _("vacancy reason"), max_length=20, choices=choices.VacancyReason.choices, blank=True
    )
    note = models.CharField(_("note"), max_length=255, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = RestrictedQuerySet.as_manager()
    scope_field = "unit__company"

    class Meta:
        verbose_name = _("unit listing")
        verbose_name_plural = _("unit listings")
        constraints = [
            models.CheckConstraint(
                condition=Q(asking_rent__isnull=True) | Q(asking_rent__gte=0),
                name="unitlisting_asking_rent_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.unit_id}: {self.vacancy_reason or '-'}"
