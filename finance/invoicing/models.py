"""E-invoices (数电发票), bank statements and their reconciliation, vouchers (凭证) for the ERP.

- An `InvoiceRequest` asks the tax platform to issue one fully digital VAT invoice for
  one or more posted bills of one tenant; its items are the bills' lines. A bill line is
  held by at most one live (blue, not failed, not reversed) item — a database constraint,
  so the same money is never invoiced twice. A red-letter (红字) request reverses an issued
  invoice; once the red invoice is issued the original's lines are free again.
- A `BankStatement` is one imported bank export; its `BankLine`s are the credits, each
  matched (automatically with a confidence, or by hand) to a receipt or to an open bill.
  A line is matched at most once and a receipt backs at most one line.
- A `Voucher` is the journal entry of one posted bill or one receipt, with balanced
  `VoucherEntry`s on the `AccountCode`s configured for the company.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from finance.collection.models import Receipt
from finance.models import MONEY, RATE, Bill, BillLine
from leasing.models import Lease, Tenant
from spatial.models import Company
from spatial.querysets import RestrictedQuerySet

# -- e-invoices --------------------------------------------------------------------------------


class InvoiceType(models.TextChoices):
    SPECIAL = "special", _("Digital VAT special invoice (数电专票)")
    NORMAL = "normal", _("Digital VAT normal invoice (数电普票)")


class InvoiceKind(models.TextChoices):
    BLUE = "blue", _("Blue (original)")
    RED = "red", _("Red-letter (reversal)")


class InvoiceStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SUBMITTED = "submitted", _("Submitted")
    ISSUED = "issued", _("Issued")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")
    REVERSED = "reversed", _("Red-letter reversed")


#: Statuses in which a blue request's items hold their bill lines.
HOLDING_STATUSES = (InvoiceStatus.DRAFT, InvoiceStatus.SUBMITTED, InvoiceStatus.ISSUED)


class InvoiceRequest(models.Model):
    """开票申请: one invoice to issue for posted bills of one tenant, and its result."""

    company = models.ForeignKey(
        Company, models.PROTECT, related_name="invoice_requests", verbose_name=_("seller company")
    )
    tenant = models.ForeignKey(
        Tenant, models.PROTECT, related_name="invoice_requests", verbose_name=_("buyer (tenant)")
    )
    lease = models.ForeignKey(
        Lease,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="invoice_requests",
        verbose_name=_("lease"),
    )
    number = models.CharField(_("request number"), max_length=40, unique=True)
    kind = models.CharField(
        _("kind"), max_length=5, choices=InvoiceKind.choices, default=InvoiceKind.BLUE
    )
    invoice_type = models.CharField(_("invoice type"), max_length=10, choices=InvoiceType.choices)
    status = models.CharField(
        _("status"), max_length=10, choices=InvoiceStatus.choices, default=InvoiceStatus.DRAFT
    )
    # Seller and buyer as printed on the invoice, copied when the request is made.
    seller_name = models.CharField(_("seller name"), max_length=200)
    seller_tax_id = models.CharField(_("seller taxpayer ID"), max_length=20, blank=True)
    buyer_name = models.CharField(_("buyer name"), max_length=200)
    buyer_tax_id = models.CharField(_("buyer taxpayer ID"), max_length=20, blank=True)
    buyer_address = models.CharField(_("buyer address"), max_length=200, blank=True)
    buyer_phone = models.CharField(_("buyer phone"), max_length=40, blank=True)
    buyer_bank = models.CharField(_("buyer bank"), max_length=100, blank=True)
    buyer_account = models.CharField(_("buyer bank account"), max_length=40, blank=True)
    buyer_email = models.EmailField(_("buyer email"), blank=True)
    amount = models.DecimalField(_("amount (tax included)"), **MONEY)
    net = models.DecimalField(_("amount before tax"), **MONEY)
    tax = models.DecimalField(_("VAT"), **MONEY)
    remarks = models.CharField(_("remarks (备注)"), max_length=230, blank=True)
    original = models.ForeignKey(
        "self",
        models.PROTECT,
        null=True,
        blank=True,
        related_name="reversals",
        verbose_name=_("reverses invoice"),
    )
    red_reason = models.CharField(_("red-letter reason"), max_length=200, blank=True)
    red_confirmation_number = models.CharField(
        _("red-letter confirmation number (红字确认单)"), max_length=40, blank=True
    )
    invoice_number = models.CharField(_("invoice number"), max_length=20, blank=True)
    invoice_date = models.DateField(_("invoice date"), null=True, blank=True)
    failure_reason = models.TextField(_("failure reason"), blank=True)
    outbox_file = models.CharField(_("submitted in file"), max_length=200, blank=True)
    submitted_at = models.DateTimeField(_("submitted at"), null=True, blank=True)
    issued_at = models.DateTimeField(_("result imported at"), null=True, blank=True)
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
        verbose_name = _("invoice request")
        verbose_name_plural = _("invoice requests")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["invoice_number"],
                condition=~Q(invoice_number=""),
                name="invoice_number_unique",
            ),
            models.CheckConstraint(
                condition=Q(kind="blue", original__isnull=True, amount__gte=0)
                | Q(kind="red", original__isnull=False, amount__lte=0),
                name="invoice_sign_by_kind",
            ),
            # One live red-letter reversal per invoice.
            models.UniqueConstraint(
                fields=["original"],
                condition=Q(kind="red") & ~Q(status__in=["failed", "cancelled"]),
                name="invoice_one_live_reversal",
            ),
        ]
        indexes = [models.Index(fields=["company", "status"], name="invoice_company_status")]

    def __str__(self) -> str:
        return self.invoice_number or self.number


class InvoiceRequestItem(models.Model):
    """One invoice line (发票明细), from one bill line, with the leasing details the law asks.

    `holds` is true while this item stands for its bill line's money on a live blue
    invoice; the partial unique constraint on it is the duplicate check.
    """

    request = models.ForeignKey(
        InvoiceRequest, models.CASCADE, related_name="items", verbose_name=_("invoice request")
    )
    bill_line = models.ForeignKey(
        BillLine, models.PROTECT, related_name="invoice_items", verbose_name=_("bill line")
    )
    bill = models.ForeignKey(
        Bill, models.PROTECT, related_name="invoice_items", verbose_name=_("bill")
    )
    holds = models.BooleanField(_("holds the bill line"), default=True)
    name = models.CharField(_("item name (项目名称)"), max_length=100)
    tax_code = models.CharField(_("tax classification code"), max_length=19)
    specification = models.CharField(_("specification"), max_length=40, blank=True)
    measure_unit = models.CharField(_("unit of measure"), max_length=20, blank=True)
    quantity = models.DecimalField(
        _("quantity"), max_digits=16, decimal_places=6, null=True, blank=True
    )
    unit_price = models.DecimalField(
        _("unit price (before tax)"), max_digits=20, decimal_places=6, null=True, blank=True
    )
    amount = models.DecimalField(_("amount (tax included)"), **MONEY)
    net = models.DecimalField(_("amount before tax"), **MONEY)
    tax = models.DecimalField(_("VAT"), **MONEY)
    vat_rate = models.DecimalField(_("VAT rate"), **RATE)
    # 特定业务: 不动产经营租赁服务
    property_address = models.CharField(_("property address"), max_length=200, blank=True)
    property_certificate = models.CharField(
        _("title certificate number"), max_length=80, blank=True
    )
    lease_start = models.DateField(_("lease period from"), null=True, blank=True)
    lease_end = models.DateField(_("lease period to (inclusive)"), null=True, blank=True)

    class Meta:
        verbose_name = _("invoice item")
        verbose_name_plural = _("invoice items")
        ordering = ["request", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["bill_line"], condition=Q(holds=True), name="invoice_item_line_once"
            ),
            models.CheckConstraint(
                condition=Q(amount=models.F("net") + models.F("tax")), name="invoice_item_net_tax"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.amount}"


# -- bank statements ---------------------------------------------------------------------------


class BankStatement(models.Model):
    """对账单: one imported bank export (CSV or XLSX) of one account."""

    company = models.ForeignKey(
        Company, models.PROTECT, related_name="bank_statements", verbose_name=_("company")
    )
    account_number = models.CharField(_("own account number"), max_length=40, blank=True)
    bank_name = models.CharField(_("bank"), max_length=100, blank=True)
    file_name = models.CharField(_("file name"), max_length=200)
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    lines_read = models.PositiveIntegerField(_("credit lines read"), default=0)
    lines_added = models.PositiveIntegerField(_("lines added"), default=0)
    lines_duplicate = models.PositiveIntegerField(_("lines already imported"), default=0)
    imported_at = models.DateTimeField(_("imported at"), auto_now_add=True)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("imported by"),
    )

    objects = RestrictedQuerySet.as_manager()
    scope_field = "company"

    class Meta:
        verbose_name = _("bank statement")
        verbose_name_plural = _("bank statements")
        ordering = ["-imported_at", "-id"]

    def __str__(self) -> str:
        return self.file_name


class BankLineStatus(models.TextChoices):
    UNMATCHED = "unmatched", _("Unmatched")
    SUGGESTED = "suggested", _("Suggested match")
    MATCHED = "matched", _("Matched")
    IGNORED = "ignored", _("Ignored")


class BankLine(models.Model):
    """One credit (money in) on a bank statement and what it was matched to."""

    statement = models.ForeignKey(
        BankStatement, models.PROTECT, related_name="lines", verbose_name=_("statement")
    )
    company = models.ForeignKey(
        Company, models.PROTECT, related_name="bank_lines", verbose_name=_("company")
    )
    booked_on = models.DateField(_("transaction date"))
    amount = models.DecimalField(_("amount"), **MONEY)
    payer_name = models.CharField(_("counterparty name"), max_length=200, blank=True)
    payer_account = models.CharField(_("counterparty account"), max_length=60, blank=True)
    memo = models.CharField(_("memo (摘要/附言/用途)"), max_length=500, blank=True)
    serial = models.CharField(_("bank serial number"), max_length=80, blank=True)
    dedupe_key = models.CharField(_("duplicate key"), max_length=64)
    status = models.CharField(
        _("status"), max_length=10, choices=BankLineStatus.choices, default="unmatched"
    )
    confidence = models.PositiveSmallIntegerField(_("match confidence (0–100)"), default=0)
    reasons = models.JSONField(_("match reasons"), default=list, blank=True)
    suggested_bill = models.ForeignKey(
        Bill,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("suggested bill"),
    )
    suggested_receipt = models.ForeignKey(
        Receipt,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("suggested receipt"),
    )
    receipt = models.OneToOneField(
        Receipt,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="bank_line",
        verbose_name=_("matched receipt"),
    )
    matched_at = models.DateTimeField(_("matched at"), null=True, blank=True)
    matched_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("matched by"),
    )
    auto_matched = models.BooleanField(_("matched automatically"), default=False)

    objects = RestrictedQuerySet.as_manager()
    scope_field = "company"

    class Meta:
        verbose_name = _("bank line")
        verbose_name_plural = _("bank lines")
        ordering = ["booked_on", "id"]
        constraints = [
            models.UniqueConstraint(fields=["company", "dedupe_key"], name="bank_line_once"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="bank_line_credit"),
            models.CheckConstraint(
                condition=Q(status="matched", receipt__isnull=False)
                | (~Q(status="matched") & Q(receipt__isnull=True)),
                name="bank_line_matched_has_receipt",
            ),
        ]
        indexes = [models.Index(fields=["company", "status"], name="bank_line_company_status")]

    def __str__(self) -> str:
        return f"{self.booked_on} {self.amount} {self.payer_name}"


# -- vouchers ----------------------------------------------------------------------------------


class AccountKey(models.TextChoices):
    """The roles an account plays in the vouchers; each maps to an ERP account code."""

    RECEIVABLE = "receivable", _("Accounts receivable")
    BANK = "bank", _("Bank deposits")
    OUTPUT_VAT = "output_vat", _("Output VAT")
    RENT_INCOME = "rent_income", _("Rental income")
    PROPERTY_INCOME = "property_income", _("Property service income")
    OTHER_INCOME = "other_income", _("Other business income")
    LATE_FEE_INCOME = "late_fee_income", _("Late fee income")
    DEPOSIT = "deposit", _("Deposits received")


class AccountCode(models.Model):
    """会计科目: the ERP account code a company books one role to.

    A row without a company is the group-wide default; a company's own row (or its
    nearest parent's) wins.
    """

    company = models.ForeignKey(
        Company,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="account_codes",
        verbose_name=_("company"),
    )
    key = models.CharField(_("role"), max_length=20, choices=AccountKey.choices)
    code = models.CharField(_("account code"), max_length=40)
    name = models.CharField(_("account name"), max_length=100)

    objects = RestrictedQuerySet.as_manager()
    scope_field = "company"
    scope_null_is_shared = True

    class Meta:
        verbose_name = _("account code")
        verbose_name_plural = _("account codes")
        ordering = ["key", "company_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["company", "key"], name="account_code_once", nulls_distinct=False
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class VoucherSource(models.TextChoices):
    BILL = "bill", _("Bill")
    LATE_FEE = "late_fee", _("Late fee")
    RECEIPT = "receipt", _("Receipt")


class Voucher(models.Model):
    """记账凭证: the journal entry of one bill or one receipt; debits equal credits."""

    company = models.ForeignKey(
        Company, models.PROTECT, related_name="vouchers", verbose_name=_("company")
    )
    number = models.CharField(_("voucher number"), max_length=40, unique=True)
    date = models.DateField(_("voucher date"))
    source = models.CharField(_("source"), max_length=10, choices=VoucherSource.choices)
    bill = models.OneToOneField(
        Bill,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="voucher",
        verbose_name=_("bill"),
    )
    receipt = models.OneToOneField(
        Receipt,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="voucher",
        verbose_name=_("receipt"),
    )
    summary = models.CharField(_("summary (摘要)"), max_length=200)
    total = models.DecimalField(_("total debit"), **MONEY)
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
        verbose_name = _("voucher")
        verbose_name_plural = _("vouchers")
        ordering = ["date", "number"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(bill__isnull=False) & Q(receipt__isnull=True))
                | (Q(bill__isnull=True) & Q(receipt__isnull=False)),
                name="voucher_one_source",
            ),
        ]
        indexes = [models.Index(fields=["company", "date"], name="voucher_company_date")]

    def __str__(self) -> str:
        return self.number


class VoucherEntry(models.Model):
    """One line of a voucher: a debit or a credit on one account, with its auxiliaries."""

    voucher = models.ForeignKey(
        Voucher, models.CASCADE, related_name="entries", verbose_name=_("voucher")
    )
    line = models.PositiveSmallIntegerField(_("line"))
    account_key = models.CharField(_("role"), max_length=20, choices=AccountKey.choices)
    account_code = models.CharField(_("account code"), max_length=40)
    account_name = models.CharField(_("account name"), max_length=100)
    summary = models.CharField(_("summary (摘要)"), max_length=200)
    debit = models.DecimalField(_("debit"), default=0, **MONEY)
    credit = models.DecimalField(_("credit"), default=0, **MONEY)
    tenant = models.ForeignKey(
        Tenant, models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("tenant")
    )
    lease = models.ForeignKey(
        Lease, models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("lease")
    )

    class Meta:
        verbose_name = _("voucher entry")
        verbose_name_plural = _("voucher entries")
        ordering = ["voucher", "line"]
        constraints = [
            models.UniqueConstraint(fields=["voucher", "line"], name="voucher_entry_line"),
            # One side per entry; a reversal books negative amounts on the same side (红字).
            models.CheckConstraint(
                condition=Q(debit=0) | Q(credit=0), name="voucher_entry_one_side"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account_code} {self.debit or -self.credit}"
