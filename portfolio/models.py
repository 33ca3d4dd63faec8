"""The asset register (一物一档): categories, coding rules, assets, tags and documents."""

from decimal import Decimal

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.contrib.gis.db import models
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from portfolio import choices
from spatial.models import Building, Company, Floor, Parcel, Park, Road, Site, Unit
from spatial.querysets import RestrictedQuerySet
from spatial.validators import GeometryValidator, validate_code


class Category(models.Model):
    """An asset class of GB/T 14885 (or one a customer adds below it).

    `useful_life_months` empty means the class is not depreciated (land, cultural relics).
    """

    code = models.CharField(_("code"), max_length=20, unique=True, validators=[validate_code])
    name = models.CharField(_("name"), max_length=100)
    parent = models.ForeignKey(
        "self",
        models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
        verbose_name=_("parent category"),
    )
    level = models.PositiveSmallIntegerField(_("level"), default=1)
    standard = models.CharField(_("standard"), max_length=40, blank=True)
    useful_life_months = models.PositiveSmallIntegerField(
        _("default useful life (months)"), null=True, blank=True
    )
    residual_rate = models.DecimalField(
        _("default residual rate"),
        max_digits=5,
        decimal_places=4,
        default=Decimal("0.05"),
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(1))],
    )
    is_active = models.BooleanField(_("active"), default=True)
    history = HistoricalRecords()

    objects = RestrictedQuerySet.as_manager()
    scope_field = None  # shared by all companies

    class Meta:
        verbose_name = _("asset category")
        verbose_name_plural = _("asset categories")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(residual_rate__gte=0) & Q(residual_rate__lte=1),
                name="category_residual_rate_range",
            ),
            models.CheckConstraint(
                condition=Q(useful_life_months__isnull=True) | Q(useful_life_months__gt=0),
                name="category_useful_life_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class CodingRule(models.Model):
    """A pattern that issues asset codes, e.g. "{company}-{category}-{year}-{seq:05}".

    The most specific active rule wins: one for the company beats one for all
    companies, one for a category beats one for its parent; `priority` breaks ties.
    Sequences are counted per distinct rendered prefix (so per company, category and
    year when the pattern names them).
    """

    name = models.CharField(_("name"), max_length=100)
    pattern = models.CharField(_("pattern"), max_length=120)
    company = models.ForeignKey(
        Company,
        models.CASCADE,
        null=True,
        blank=True,
        related_name="coding_rules",
        verbose_name=_("company"),
        help_text=_("Empty: applies to all companies."),
    )
    category = models.ForeignKey(
        Category,
        models.CASCADE,
        null=True,
        blank=True,
        related_name="coding_rules",
        verbose_name=_("category"),
        help_text=_("Empty: applies to all categories; otherwise to this one and those below."),
    )
    priority = models.SmallIntegerField(_("priority"), default=0)
    is_active = models.BooleanField(_("active"), default=True)
    history = HistoricalRecords()

    objects = RestrictedQuerySet.as_manager()
    scope_field = "company"
    scope_null_is_shared = True  # a rule for all companies: seen by all, set by the group

    class Meta:
        verbose_name = _("coding rule")
        verbose_name_plural = _("coding rules")
        ordering = ["-priority", "name"]

    def __str__(self) -> str:
        return f"{self.name}: {self.pattern}"

    def clean(self) -> None:
        from portfolio.coding import parse_pattern

        parse_pattern(self.pattern)  # raises ValidationError naming the pattern field


class CodeSequence(models.Model):
    """The last number a coding rule issued for one prefix; row-locked while issuing."""

    rule = models.ForeignKey(CodingRule, models.CASCADE, related_name="sequences")
    key = models.CharField(max_length=120)
    last_value = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["rule", "key"], name="code_sequence_unique_key")
        ]

    def __str__(self) -> str:
        return f"{self.key}: {self.last_value}"


class Asset(models.Model):
    """资产: one record per physical or legal asset, with its place in the spatial graph.

    The location fields name the node the asset sits at and the nodes above it
    (a unit implies its floor, building and site); portfolio.services fills them.
    """

    code = models.CharField(_("asset code"), max_length=64, unique=True, validators=[validate_code])
    name = models.CharField(_("name"), max_length=200)
    category = models.ForeignKey(
        Category, models.PROTECT, related_name="assets", verbose_name=_("category")
    )
    company = models.ForeignKey(
        Company, models.PROTECT, related_name="assets", verbose_name=_("owning company")
    )
    status = models.CharField(
        _("status"),
        max_length=20,
        choices=choices.AssetStatus.choices,
        default=choices.AssetStatus.IN_USE,
    )
    custodian_department = models.CharField(_("custodian department"), max_length=100, blank=True)
    custodian = models.CharField(_("custodian"), max_length=60, blank=True)
    brand = models.CharField(_("brand"), max_length=100, blank=True)
    model_number = models.CharField(_("model"), max_length=100, blank=True)
    serial_number = models.CharField(_("serial number"), max_length=100, blank=True)
    site = models.ForeignKey(
        Site, models.PROTECT, null=True, blank=True, related_name="assets", verbose_name=_("site")
    )
    building = models.ForeignKey(
        Building,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="assets",
        verbose_name=_("building"),
    )
    floor = models.ForeignKey(
        Floor, models.PROTECT, null=True, blank=True, related_name="assets", verbose_name=_("floor")
    )
    unit = models.ForeignKey(
        Unit, models.PROTECT, null=True, blank=True, related_name="assets", verbose_name=_("unit")
    )
    road = models.ForeignKey(
        Road, models.PROTECT, null=True, blank=True, related_name="assets", verbose_name=_("road")
    )
    park = models.ForeignKey(
        Park, models.PROTECT, null=True, blank=True, related_name="assets", verbose_name=_("park")
    )
    parcel = models.ForeignKey(
        Parcel,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="assets",
        verbose_name=_("parcel"),
    )
    geom = models.PointField(
        _("position"), srid=4326, null=True, blank=True, validators=[GeometryValidator("Point")]
    )
    acquisition_cost = models.DecimalField(
        _("acquisition cost (yuan)"), max_digits=16, decimal_places=2, default=Decimal("0.00")
    )
    acquisition_date = models.DateField(_("acquisition date"), null=True, blank=True)
    in_service_date = models.DateField(_("in-service date"), null=True, blank=True)
    useful_life_months = models.PositiveSmallIntegerField(
        _("useful life (months)"), null=True, blank=True
    )
    residual_rate = models.DecimalField(
        _("residual rate"),
        max_digits=5,
        decimal_places=4,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(1))],
    )
    bim_global_id = models.CharField(_("IFC GlobalId"), max_length=22, blank=True)
    remarks = models.TextField(_("remarks"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    history = HistoricalRecords()

    objects = RestrictedQuerySet.as_manager()
    scope_field = "company"

    class Meta:
        verbose_name = _("asset")
        verbose_name_plural = _("assets")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(acquisition_cost__gte=0), name="asset_cost_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(residual_rate__isnull=True)
                | (Q(residual_rate__gte=0) & Q(residual_rate__lte=1)),
                name="asset_residual_rate_range",
            ),
            models.CheckConstraint(
                condition=Q(useful_life_months__isnull=True) | Q(useful_life_months__gt=0),
                name="asset_useful_life_positive",
            ),
            models.CheckConstraint(
                condition=Q(in_service_date__isnull=True)
                | Q(acquisition_date__isnull=True)
                | Q(in_service_date__gte=F("acquisition_date")),
                name="asset_in_service_after_acquisition",
            ),
            models.UniqueConstraint(
                fields=["bim_global_id"],
                condition=~Q(bim_global_id=""),
                name="asset_bim_global_id_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["company", "status"], name="asset_company_status"),
            models.Index(fields=["category"], name="asset_category"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    def clean(self) -> None:
        if self.acquisition_date and self.in_service_date:
            if self.in_service_date < self.acquisition_date:
                message = _("The asset cannot enter service before it is acquired.")
                raise ValidationError({"in_service_date": [message]})


class AssetTag(models.Model):
    """A physical tag on an asset: barcode, QR code, RFID EPC or NFC UID; each value unique."""

    asset = models.ForeignKey(Asset, models.CASCADE, related_name="tags", verbose_name=_("asset"))
    kind = models.CharField(_("kind"), max_length=10, choices=choices.TagKind.choices)
    value = models.CharField(_("value"), max_length=128)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    history = HistoricalRecords()

    objects = RestrictedQuerySet.as_manager()
    scope_field = "asset__company"

    class Meta:
        verbose_name = _("asset tag")
        verbose_name_plural = _("asset tags")
        ordering = ["kind", "value"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "value"], name="asset_tag_unique_value")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.value}"


def document_upload_to(instance: "Document", filename: str) -> str:
    return f"documents/{instance.sha256[:2]}/{instance.sha256}/{filename}"


class Document(models.Model):
    """A certificate, contract, invoice, photo or drawing attached to an asset or feature."""

    kind = models.CharField(_("kind"), max_length=30, choices=choices.DocumentKind.choices)
    title = models.CharField(_("title"), max_length=200)
    number = models.CharField(_("document number"), max_length=100, blank=True)
    issue_date = models.DateField(_("issue date"), null=True, blank=True)
    expiry_date = models.DateField(_("expiry date"), null=True, blank=True)
    content_type = models.ForeignKey(
        ContentType, models.PROTECT, verbose_name=_("attached to (type)")
    )
    object_id = models.PositiveBigIntegerField(_("attached to (id)"))
    target = GenericForeignKey("content_type", "object_id")
    company = models.ForeignKey(
        Company,
        models.PROTECT,
        related_name="documents",
        editable=False,
        verbose_name=_("owning company"),
    )
    file = models.FileField(_("file"), upload_to=document_upload_to, max_length=255)
    original_name = models.CharField(_("original file name"), max_length=255)
    mime_type = models.CharField(_("content type"), max_length=100)
    size = models.PositiveBigIntegerField(_("size (bytes)"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("uploaded by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    history = HistoricalRecords()

    objects = RestrictedQuerySet.as_manager()
    scope_field = "company"

    class Meta:
        verbose_name = _("document")
        verbose_name_plural = _("documents")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(expiry_date__isnull=True)
                | Q(issue_date__isnull=True)
                | Q(expiry_date__gte=F("issue_date")),
                name="document_expiry_after_issue",
            )
        ]
        indexes = [models.Index(fields=["content_type", "object_id"], name="document_target")]

    def __str__(self) -> str:
        return self.title

    def clean(self) -> None:
        # The check constraint would report this without a field; the date is what is wrong.
        if self.issue_date and self.expiry_date and self.expiry_date < self.issue_date:
            raise ValidationError(
                {"expiry_date": [_("The expiry date is before the issue date.")]},
                code="expiry_before_issue",
            )
