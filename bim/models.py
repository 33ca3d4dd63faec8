"""BIM imports: the job that turns an IFC file into a building, and what it remembers of the
model — how it was placed on the map (`BimModel`) and what each space said (`BimSpace`).

The spatial rows themselves (Building, Floor, Unit) and the assets live in `spatial` and
`portfolio`, linked to the model by their `bim_global_id`.
"""

import uuid
from pathlib import PurePath

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from bim import choices
from spatial.models import Building, Company, Site, Unit
from spatial.querysets import RestrictedQuerySet


def ifc_upload_to(instance: "IfcImport", filename: str) -> str:
    suffix = PurePath(filename).suffix.lower()[:10] or ".ifc"
    return f"bim/imports/{timezone.now():%Y/%m}/{uuid.uuid4().hex}{suffix}"


class IfcImport(models.Model):
    """One import of an IFC file into a site: the stored file, the placement options, and
    the job's state (queued → running → succeeded or failed), progress and report.

    The table is also the job queue: workers claim queued rows with
    SELECT … FOR UPDATE SKIP LOCKED (see bim.tasks).
    """

    company = models.ForeignKey(
        Company, models.PROTECT, related_name="ifc_imports", verbose_name=_("owning company")
    )
    site = models.ForeignKey(
        Site, models.PROTECT, related_name="ifc_imports", verbose_name=_("site")
    )
    building = models.ForeignKey(
        Building,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="ifc_imports",
        verbose_name=_("building"),
    )
    file = models.FileField(_("IFC file"), upload_to=ifc_upload_to, max_length=255)
    original_name = models.CharField(_("original file name"), max_length=255)
    size = models.PositiveBigIntegerField(_("size (bytes)"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    anchor_lon = models.FloatField(_("anchor longitude"), null=True, blank=True)
    anchor_lat = models.FloatField(_("anchor latitude"), null=True, blank=True)
    rotation_deg = models.FloatField(
        _("rotation (degrees clockwise from north)"),
        default=0.0,
        help_text=_("The bearing of the model's +Y axis; 0 when the model is drawn north up."),
    )
    crs = models.CharField(
        _("map CRS"),
        max_length=60,
        blank=True,
        help_text=_("The CRS of the file's IfcMapConversion when the file does not name it."),
    )
    placement = models.CharField(
        _("placement"),
        max_length=10,
        choices=choices.Placement.choices,
        default=choices.Placement.AUTO,
    )
    building_code = models.CharField(_("building code"), max_length=40, blank=True)
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=choices.ImportStatus.choices,
        default=choices.ImportStatus.QUEUED,
    )
    progress = models.PositiveSmallIntegerField(_("progress (%)"), default=0)
    message = models.TextField(_("message"), blank=True)
    report = models.JSONField(_("report"), default=dict, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(_("last sign of life"), null=True, blank=True)

    objects = RestrictedQuerySet.as_manager()
    scope_field = "company"

    class Meta:
        verbose_name = _("IFC import")
        verbose_name_plural = _("IFC imports")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(progress__lte=100), name="ifcimport_progress_range"),
            models.CheckConstraint(
                condition=Q(anchor_lon__isnull=True, anchor_lat__isnull=True)
                | Q(
                    anchor_lon__gte=-180,
                    anchor_lon__lte=180,
                    anchor_lat__gte=-90,
                    anchor_lat__lte=90,
                ),
                name="ifcimport_anchor_complete_and_in_range",
            ),
        ]
        indexes = [models.Index(fields=["status", "created_at"], name="ifcimport_queue")]

    def __str__(self) -> str:
        return f"{self.original_name} → {self.site} ({self.get_status_display()})"


class BimModel(models.Model):
    """The IFC model behind a building: its source and the frame that places its local
    metres on the map (bim.ifc.georef.Frame as a dict), kept for floor plans and re-imports."""

    building = models.OneToOneField(
        Building, models.CASCADE, related_name="bim_model", verbose_name=_("building")
    )
    schema = models.CharField(_("IFC schema"), max_length=20)
    application = models.CharField(_("authoring application"), max_length=255, blank=True)
    file_name = models.CharField(_("file name"), max_length=255, blank=True)
    length_unit = models.CharField(_("length unit"), max_length=40)
    georef_method = models.CharField(
        _("georeferencing"), max_length=20, choices=choices.GeorefMethod.choices
    )
    frame = models.JSONField(_("local frame"), default=dict)
    last_import = models.ForeignKey(
        IfcImport,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("last import"),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = RestrictedQuerySet.as_manager()
    scope_field = "building__company"

    class Meta:
        verbose_name = _("BIM model")
        verbose_name_plural = _("BIM models")

    def __str__(self) -> str:
        return f"{self.building} · {self.schema}"


class BimSpace(models.Model):
    """An IfcSpace as the last import saw it: its names, the areas the file states and the
    area of its footprint computed from the geometry in the model's own metres."""

    unit = models.OneToOneField(
        Unit, models.CASCADE, related_name="bim_space", verbose_name=_("unit")
    )
    model = models.ForeignKey(
        BimModel, models.CASCADE, related_name="spaces", verbose_name=_("BIM model")
    )
    global_id = models.CharField(_("IFC GlobalId"), max_length=22, db_index=True)
    name = models.CharField(_("name"), max_length=255, blank=True)
    long_name = models.CharField(_("long name"), max_length=255, blank=True)
    object_type = models.CharField(_("object type"), max_length=255, blank=True)
    type_name = models.CharField(_("space type"), max_length=255, blank=True)
    geometry_area = models.FloatField(_("area from the geometry (m²)"))
    net_area = models.FloatField(_("net area stated in the file (m²)"), null=True, blank=True)
    gross_area = models.FloatField(_("gross area stated in the file (m²)"), null=True, blank=True)
    area_source = models.CharField(_("areas read from"), max_length=60, blank=True)
    elevation_m = models.FloatField(_("bottom elevation (m)"), null=True, blank=True)
    height_m = models.FloatField(_("height (m)"), null=True, blank=True)
    removed_in = models.ForeignKey(
        IfcImport,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("removed from the model by"),
        help_text=_("Set when a newer version of the model no longer has the space but the "
                    "unit was kept because something refers to it."),
    )  # fmt: skip

    objects = RestrictedQuerySet.as_manager()
    scope_field = "unit__company"

    class Meta:
        verbose_name = _("BIM space")
        verbose_name_plural = _("BIM spaces")

    def __str__(self) -> str:
        return f"{self.long_name or self.name} ({self.global_id})"
