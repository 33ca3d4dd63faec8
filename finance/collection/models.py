"""Money received (实收) and how it is set against bills.

A receipt is money in: a bank transfer, WeChat Pay, Alipay or cash. Its allocations set
parts of it against bills; what is not allocated stays on the receipt as the tenant's
credit. A deposit receipt is a liability, never allocated to rent. A wrong receipt is
not deleted: a reversal receipt (negative, naming it) cancels it and its allocations.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from finance.models import MONEY, Bill
from leasing.models import Lease, Tenant
from spatial.models import Company
from spatial.querysets import RestrictedQuerySet


class PaymentMethod(models.TextChoices):
    BANK = "bank", _("Bank transfer")
    WECHAT = "wechat", _("WeChat Pay")
    ALIPAY = "alipay", _("Alipay")
    CASH = "cash", _("Cash")


class ReceiptKind(models.TextChoices):
    PAYMENT = "payment", _("Payment")
    DEPOSIT = "deposit", _("Deposit")
    REVERSAL = "reversal", _("Reversal")


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
                | (~Q(kind="reversal") & Q(amount__gt=0) & Q(reverses__isnull=True)),
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
