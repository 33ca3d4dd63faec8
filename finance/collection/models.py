"""Money received (实收) and how it is set against bills.

A receipt is money in: a bank transfer, WeChat Pay, Alipay or cash. Its allocations set
parts of it against bills; what is not allocated stays on the receipt as the tenant's
credit. A deposit receipt is a liability, never allocated to rent. A wrong receipt is
not deleted: a reversal receipt (negative, naming it) cancels it and its allocations.
A credit bill (a negative bill) is set against the bill it corrects by an offset
"receipt" of no money whose two allocations cancel out (see docs/collection.md).

Also here: late-fee policies and their accrual ledger, dunning policies, the notices
they sent and the collection cases (work items) escalations open.
"""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from finance.models import MONEY, RATE, Bill
from leasing.models import Lease, Tenant
from spatial.models import Company
from spatial.querysets import RestrictedQuerySet


class PaymentMethod(models.TextChoices):
    BANK = "bank", _("Bank transfer")
    WECHAT = "wechat", _("WeChat Pay")
    ALIPAY = "alipay", _("Alipay")
    CASH = "cash", _("Cash")
    OFFSET = "offset", _("Offset (no money moves)")


class ReceiptKind(models.TextChoices):
    PAYMENT = "payment", _("Payment")
    DEPOSIT = "deposit", _("Deposit")
    REVERSAL = "reversal", _("Reversal")
    OFFSET = "offset", _("Credit offset")


class Receipt(models.Model):
    """实收: one amount of money received from (or reversed for) a tenant."""

    company = models.ForeignKey(
        Company, models.PROTECT, related_name="receipts", verbose_name=_("landlord company")
    )
    tenant = models.ForeignKey(
        Tenant, models.PROTECT, related_name="receipts", verbose_name=_("tenant")
    )
    lease = models.ForeignKey(
        Lease,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="receipts",
        verbose_name=_("lease"),
    )
    number = models.CharField(_("receipt number"), max_length=40, unique=True)
    kind = models.CharField(
        _("kind"), max_length=10, choices=ReceiptKind.choices, default=ReceiptKind.PAYMENT
    )
    method = models.CharField(_("payment method"), max_length=10, choices=PaymentMethod.choices)
    received_on = models.DateField(_("received on"))
    amount = models.DecimalField(_("amount"), **MONEY)
    payer_name = models.CharField(_("payer name"), max_length=200, blank=True)
    reference = models.CharField(_("payment reference"), max_length=100, blank=True)
    reverses = models.OneToOneField(
        "self",
        models.PROTECT,
        null=True,
        blank=True,
        related_name="reversed_by",
        verbose_name=_("reverses receipt"),
    )
    remarks = models.TextField(_("remarks"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )

    objects = RestrictedQuerySet.as_manager()
    scope_field = "company"

    class Meta:
        verbose_name = _("receipt")
        verbose_name_plural = _("receipts")
        ordering = ["-received_on", "number"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(kind="reversal", amount__lt=0, reverses__isnull=False))
                | Q(kind="offset", amount=0, reverses__isnull=True)
                | (Q(kind__in=["payment", "deposit"], amount__gt=0, reverses__isnull=True)),
                name="receipt_sign_by_kind",
            ),
        ]
        indexes = [
            models.Index(fields=["company", "received_on"], name="receipt_company_day"),
            models.Index(fields=["tenant", "received_on"], name="receipt_tenant_day"),
        ]

    def __str__(self) -> str:
        return self.number


class Allocation(models.Model):
    """核销: part of a receipt set against a bill (negative when a reversal undoes one)."""

    receipt = models.ForeignKey(
        Receipt, models.PROTECT, related_name="allocations", verbose_name=_("receipt")
    )
    bill = models.ForeignKey(
        Bill, models.PROTECT, related_name="allocations", verbose_name=_("bill")
    )
    amount = models.DecimalField(_("amount"), **MONEY)
    allocated_on = models.DateField(_("allocated on"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("allocation")
        verbose_name_plural = _("allocations")
        ordering = ["bill", "id"]
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="allocation_not_zero"),
        ]
        indexes = [models.Index(fields=["bill"], name="allocation_bill")]

    def __str__(self) -> str:
        return f"{self.receipt_id}→{self.bill_id} {self.amount}"


# -- late fees (滞纳金) ---------------------------------------------------------------------------


class LateFeePolicy(models.Model):
    """滞纳金规则: a daily rate on the overdue amount after grace days, capped.

    A policy names a lease (that contract's terms) or only a company (the default for its
    leases and those of the companies below it, the nearest company's winning).
    """

    company = models.ForeignKey(
        Company, models.PROTECT, related_name="late_fee_policies", verbose_name=_("company")
    )
    lease = models.OneToOneField(
        Lease,
        models.CASCADE,
        null=True,
        blank=True,
        related_name="late_fee_policy",
        verbose_name=_("lease"),
    )
    daily_rate = models.DecimalField(
        _("daily rate"), max_digits=8, decimal_places=6, help_text=_("0.0005 is 0.05 % a day")
    )
    grace_days = models.PositiveSmallIntegerField(_("grace days"), default=0)
    cap_rate = models.DecimalField(
        _("cap (share of the overdue amount)"),
        max_digits=7,
        decimal_places=4,
        null=True,
        blank=True,
        help_text=_("0.10: the fee on a bill never exceeds 10 % of it; empty: no cap"),
    )
    vat_rate = models.DecimalField(_("VAT rate of the fee"), default=0, **RATE)
    due_days = models.PositiveSmallIntegerField(_("fee bill due after (days)"), default=10)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = RestrictedQuerySet.as_manager()
    scope_field = "company"

    class Meta:
        verbose_name = _("late fee policy")
        verbose_name_plural = _("late fee policies")
        ordering = ["company_id", "lease_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["company"], condition=Q(lease__isnull=True), name="latefee_company_default"
            ),
            models.CheckConstraint(
                condition=Q(daily_rate__gte=0, daily_rate__lt=Decimal("0.01")),
                name="latefee_rate_valid",
            ),
            models.CheckConstraint(
                condition=Q(cap_rate__isnull=True) | Q(cap_rate__gte=0),
                name="latefee_cap_valid",
            ),
            models.CheckConstraint(
                condition=Q(vat_rate__gte=0, vat_rate__lt=1), name="latefee_vat_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.lease or self.company}: {self.daily_rate}/day"


class LateFeeAccrual(models.Model):
    """The late fee one bill has accrued, recomputed by the daily job, and how much of it is
    posted as late-fee bills. `settled` stops the recomputation (paid in full or capped)."""

    bill = models.OneToOneField(
        Bill, models.CASCADE, related_name="late_fee_accrual", verbose_name=_("overdue bill")
    )
    policy = models.ForeignKey(
        LateFeePolicy, models.PROTECT, related_name="accruals", verbose_name=_("policy")
    )
    through = models.DateField(_("accrued through"))
    days = models.PositiveIntegerField(_("days charged"), default=0)
    accrued = models.DecimalField(_("accrued"), **MONEY)
    posted = models.DecimalField(_("posted"), default=0, **MONEY)
    settled = models.BooleanField(_("settled"), default=False)
    last_fee_bill = models.ForeignKey(
        Bill,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("last late-fee bill"),
    )

    objects = RestrictedQuerySet.as_manager()
    scope_field = "bill__company"

    class Meta:
        verbose_name = _("late fee accrual")
        verbose_name_plural = _("late fee accruals")
        ordering = ["bill_id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(posted__gte=0, accrued__gte=0), name="latefee_accrual_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.bill_id}: {self.accrued} ({self.posted} posted)"


# -- dunning (催缴) -------------------------------------------------------------------------------


class DunningAction(models.TextChoices):
    NOTICE = "notice", _("Payment notice")
    SECOND_NOTICE = "second_notice", _("Second notice")
    ESCALATE = "escalate", _("Escalate to a person")
    LEGAL_REVIEW = "legal_review", _("Legal review")


class DunningChannel(models.TextChoices):
    SMS = "sms", _("SMS")
    EMAIL = "email", _("Email")
    LETTER = "letter", _("Letter")
    INTERNAL = "internal", _("Internal work item")


class DunningPolicy(models.Model):
    """催缴规则 of a company (and the companies below it): levels by days overdue and amount."""

    company = models.OneToOneField(
        Company, models.PROTECT, related_name="dunning_policy", verbose_name=_("company")
    )
    name = models.CharField(_("name"), max_length=100)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = RestrictedQuerySet.as_manager()
    scope_field = "company"

    class Meta:
        verbose_name = _("dunning policy")
        verbose_name_plural = _("dunning policies")
        ordering = ["company_id"]

    def __str__(self) -> str:
        return self.name


class DunningLevel(models.Model):
    """One step of a dunning policy: reached when the oldest overdue bill is `min_days`
    overdue and the overdue total is at least `min_amount`."""

    policy = models.ForeignKey(
        DunningPolicy, models.CASCADE, related_name="levels", verbose_name=_("policy")
    )
    level = models.PositiveSmallIntegerField(_("level"))
    min_days = models.PositiveIntegerField(_("days overdue at least"))
    min_amount = models.DecimalField(_("amount overdue at least"), default=0, **MONEY)
    action = models.CharField(_("action"), max_length=15, choices=DunningAction.choices)
    channel = models.CharField(
        _("channel"), max_length=10, choices=DunningChannel.choices, default=DunningChannel.SMS
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("assignee"),
    )
    template = models.TextField(_("text"), blank=True)

    class Meta:
        verbose_name = _("dunning level")
        verbose_name_plural = _("dunning levels")
        ordering = ["policy_id", "level"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "level"], name="dunninglevel_unique"),
            models.CheckConstraint(
                condition=Q(min_amount__gte=0), name="dunninglevel_amount_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.policy_id} L{self.level}: {self.get_action_display()}"


class DunningNotice(models.Model):
    """A notice sent (or a step taken) for a tenant's arrears, at one level.

    `episode_bill` is the oldest overdue bill when it was sent: one notice per tenant, level
    and arrears episode, so the daily job can run again without sending twice, and a
    tenant who pays and falls behind again is reminded again.
    """

    company = models.ForeignKey(
        Company, models.PROTECT, related_name="dunning_notices", verbose_name=_("company")
    )
    tenant = models.ForeignKey(
        Tenant, models.PROTECT, related_name="dunning_notices", verbose_name=_("tenant")
    )
    lease = models.ForeignKey(
        Lease,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="dunning_notices",
        verbose_name=_("lease"),
    )
    level = models.ForeignKey(
        DunningLevel, models.PROTECT, related_name="notices", verbose_name=_("level")
    )
    level_number = models.PositiveSmallIntegerField(_("level number"))
    action = models.CharField(_("action"), max_length=15, choices=DunningAction.choices)
    channel = models.CharField(_("channel"), max_length=10, choices=DunningChannel.choices)
    episode_bill = models.ForeignKey(
        Bill, models.PROTECT, related_name="+", verbose_name=_("oldest overdue bill")
    )
    bills = models.ManyToManyField(Bill, related_name="dunning_notices", verbose_name=_("bills"))
    amount = models.DecimalField(_("amount overdue"), **MONEY)
    days_overdue = models.PositiveIntegerField(_("days overdue"))
    sent_on = models.DateField(_("sent on"))
    text = models.TextField(_("text"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = RestrictedQuerySet.as_manager()
    scope_field = "company"

    class Meta:
        verbose_name = _("dunning notice")
        verbose_name_plural = _("dunning notices")
        ordering = ["-sent_on", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["company", "tenant", "level_number", "episode_bill"],
                name="dunningnotice_once_per_episode",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id} L{self.level_number} {self.sent_on}"


class CaseKind(models.TextChoices):
    ESCALATION = "escalation", _("Escalation")
    LEGAL_REVIEW = "legal_review", _("Legal review")


class CaseStatus(models.TextChoices):
    OPEN = "open", _("Open")
    CLOSED = "closed", _("Closed")


class CollectionCase(models.Model):
    """催收工单: a work item for a person (an escalation) or for legal review."""

    company = models.ForeignKey(
        Company, models.PROTECT, related_name="collection_cases", verbose_name=_("company")
    )
    tenant = models.ForeignKey(
        Tenant, models.PROTECT, related_name="collection_cases", verbose_name=_("tenant")
    )
    kind = models.CharField(_("kind"), max_length=15, choices=CaseKind.choices)
    status = models.CharField(
        _("status"), max_length=10, choices=CaseStatus.choices, default=CaseStatus.OPEN
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="collection_cases",
        verbose_name=_("assignee"),
    )
    notice = models.OneToOneField(
        DunningNotice,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="case",
        verbose_name=_("opened by notice"),
    )
    amount = models.DecimalField(_("amount overdue when opened"), **MONEY)
    opened_on = models.DateField(_("opened on"))
    closed_on = models.DateField(_("closed on"), null=True, blank=True)
    note = models.TextField(_("note"), blank=True)

    objects = RestrictedQuerySet.as_manager()
    scope_field = "company"

    class Meta:
        verbose_name = _("collection case")
        verbose_name_plural = _("collection cases")
        ordering = ["-opened_on", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status="open", closed_on__isnull=True)
                | Q(status="closed", closed_on__isnull=False),
                name="collectioncase_closed_has_date",
            ),
            models.CheckConstraint(
                condition=Q(closed_on__isnull=True) | Q(closed_on__gte=F("opened_on")),
                name="collectioncase_dates_order",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.tenant_id} ({self.get_status_display()})"
