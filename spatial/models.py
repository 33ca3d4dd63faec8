"""The spatial graph: companies own sites; sites hold buildings, floors, units,
roads, parks and parcels. Geometry is stored in EPSG:4326; areas and lengths are
computed geodesically by PostGIS (on the WGS 84 spheroid) in generated columns,
beside the official areas recorded from certificates and surveys.
"""

from django.conf import settings
from django.contrib.gis.db import models
from django.core.exceptions import ValidationError
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from spatial import choices
from spatial.querysets import RestrictedQuerySet
from spatial.validators import GeometryValidator, validate_code, validate_uscc


class GeodesicArea(models.Func):
    """Area in square metres on the spheroid; immutable, so usable in a generated column."""

    template = "ST_Area((%(expressions)s)::geography, true)"
    output_field = models.FloatField()


class GeodesicLength(models.Func):
    template = "ST_Length((%(expressions)s)::geography, true)"
    output_field = models.FloatField()


def area_column() -> models.GeneratedField:
    return models.GeneratedField(
        expression=GeodesicArea("geom"),
        output_field=models.FloatField(),
        db_persist=True,
        verbose_name=_("computed area (m²)"),
    )


class Company(models.Model):
    """权属单位: a legal entity in the group hierarchy 集团 → 子公司 → 项目公司.

    `path` holds the ids from the root down ("/1/4/9/"), so a company's subtree is
    one indexed prefix match; it is maintained by spatial.services.
    """

    code = models.CharField(_("code"), max_length=64, unique=True, validators=[validate_code])
    name = models.CharField(_("name"), max_length=200)
    short_name = models.CharField(_("short name"), max_length=60, blank=True)
    kind = models.CharField(_("kind"), max_length=20, choices=choices.CompanyKind.choices)
    parent = models.ForeignKey(
        "self",
        models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
        verbose_name=_("parent company"),
    )
    uscc = models.CharField(
        _("unified social credit code"), max_length=18, blank=True, validators=[validate_uscc]
    )
    address = models.CharField(_("address"), max_length=255, blank=True)
    path = models.CharField(_("hierarchy path"), max_length=255, editable=False, db_index=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    history = HistoricalRecords(excluded_fields=["path"])

    objects = RestrictedQuerySet.as_manager()
    scope_field = "pk"

    class Meta:
        verbose_name = _("company")
        verbose_name_plural = _("companies")
        ordering = ["path"]
        constraints = [
            models.UniqueConstraint(
                fields=["uscc"], condition=~Q(uscc=""), name="company_uscc_unique"
            ),
            models.CheckConstraint(condition=~Q(parent=F("pk")), name="company_not_own_parent"),
        ]
        indexes = [
            models.Index(
                fields=["path"], name="company_path_prefix", opclasses=["varchar_pattern_ops"]
            )
        ]

    def __str__(self) -> str:
        return self.short_name or self.name


class Membership(models.Model):
    """A user's role in a company; it reaches the company and all companies below it."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.CASCADE,
        related_name="memberships",
        verbose_name=_("user"),
    )
    company = models.ForeignKey(
        Company, models.CASCADE, related_name="memberships", verbose_name=_("company")
    )
    role = models.CharField(_("role"), max_length=20, choices=choices.Role.choices)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.UniqueConstraint(
                fields=["user", "company", "role"], name="membership_unique_role"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.company} · {self.get_role_display()}"


class Feature(models.Model):
    """What every node of the spatial graph has: a code, a name, an owner, timestamps."""

    code = models.CharField(_("code"), max_length=64, unique=True, validators=[validate_code])
    name = models.CharField(_("name"), max_length=200)
    company = models.ForeignKey(
        Company,
        models.PROTECT,
        related_name="%(class)ss",
        verbose_name=_("owning company"),
    )
    remarks = models.TextField(_("remarks"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    history = HistoricalRecords(inherit=True)

    objects = RestrictedQuerySet.as_manager()
    scope_field = "company"
    parent_field: str | None = None

    class Meta:
        abstract = True
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class GeometryValidConstraint(models.CheckConstraint):
    """ST_IsValid in the database, the last line behind GeometryValidator.

    Not evaluated again by `full_clean()`: the field's GeometryValidator has already said
    why a geometry is invalid, and Django cannot evaluate ST_IsValid on an absent one.
    """

    def validate(self, model, instance, exclude=None, using=None):
        return None


def _valid_geom(name: str):
    # An absent geometry (a floor without an outline) is not an invalid one.
    return GeometryValidConstraint(
        condition=Q(geom__isnull=True) | Q(geom__isvalid=True), name=f"{name}_geom_valid"
    )


class Site(Feature):
    """园区/项目: a park or project area."""

    geom = models.MultiPolygonField(
        _("boundary"), srid=4326, validators=[GeometryValidator("MultiPolygon")]
    )
    kind = models.CharField(_("kind"), max_length=30, choices=choices.SiteKind.choices)
    address = models.CharField(_("address"), max_length=255, blank=True)
    district = models.CharField(_("district"), max_length=60, blank=True)
    official_area = models.DecimalField(
        _("official land area (m²)"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    area_m2 = area_column()

    class Meta(Feature.Meta):
        verbose_name = _("site")
        verbose_name_plural = _("sites")
        constraints = [_valid_geom("site")]


class Building(Feature):
    """楼宇: a building with its footprint."""

    parent_field = "site"
    site = models.ForeignKey(Site, models.PROTECT, related_name="buildings", verbose_name=_("site"))
    geom = models.PolygonField(_("footprint"), srid=4326, validators=[GeometryValidator("Polygon")])
    use = models.CharField(
        _("main use"), max_length=20, choices=choices.BuildingUse.choices, blank=True
    )
    floors_above = models.PositiveSmallIntegerField(_("floors above ground"), default=1)
    floors_below = models.PositiveSmallIntegerField(_("floors below ground"), default=0)
    height_m = models.DecimalField(
        _("height (m)"), max_digits=7, decimal_places=2, null=True, blank=True
    )
    year_built = models.PositiveSmallIntegerField(_("year built"), null=True, blank=True)
    structure = models.CharField(
        _("structure"), max_length=30, choices=choices.BuildingStructure.choices, blank=True
    )
    gross_area = models.DecimalField(
        _("official gross floor area (m²)"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    address = models.CharField(_("address"), max_length=255, blank=True)
    bim_global_id = models.CharField(_("IFC GlobalId"), max_length=22, blank=True)
    area_m2 = area_column()

    class Meta(Feature.Meta):
        verbose_name = _("building")
        verbose_name_plural = _("buildings")
        constraints = [
            _valid_geom("building"),
            models.CheckConstraint(
                condition=Q(year_built__isnull=True) | Q(year_built__range=(1800, 2100)),
                name="building_year_built_range",
            ),
            models.CheckConstraint(
                condition=Q(height_m__isnull=True) | Q(height_m__gt=0),
                name="building_height_positive",
            ),
            models.CheckConstraint(
                condition=Q(gross_area__isnull=True) | Q(gross_area__gt=0),
                name="building_gross_area_positive",
            ),
            models.UniqueConstraint(
                fields=["bim_global_id"],
                condition=~Q(bim_global_id=""),
                name="building_bim_global_id_unique",
            ),
        ]


class Floor(Feature):
    """楼层: one storey; level 1 is the ground floor, -1 the first basement (B1)."""

    parent_field = "building"
    building = models.ForeignKey(
        Building, models.CASCADE, related_name="floors", verbose_name=_("building")
    )
    level = models.SmallIntegerField(_("level"))
    elevation_m = models.DecimalField(
        _("elevation (m)"), max_digits=8, decimal_places=3, null=True, blank=True
    )
    height_m = models.DecimalField(
        _("storey height (m)"), max_digits=6, decimal_places=2, null=True, blank=True
    )
    geom = models.PolygonField(
        _("outline"), srid=4326, null=True, blank=True, validators=[GeometryValidator("Polygon")]
    )
    bim_global_id = models.CharField(_("IFC GlobalId"), max_length=22, blank=True)
    area_m2 = area_column()

    class Meta(Feature.Meta):
        verbose_name = _("floor")
        verbose_name_plural = _("floors")
        ordering = ["building_id", "level"]
        constraints = [
            _valid_geom("floor"),
            models.UniqueConstraint(fields=["building", "level"], name="floor_unique_level"),
            models.CheckConstraint(condition=~Q(level=0), name="floor_level_not_zero"),
        ]


class Unit(Feature):
    """房源/空间: a leasable or usable space on a floor.

    `building` and `site` repeat the floor's, so that maps and filters need no joins;
    spatial.services keeps them in step. `outside_floor` flags a unit whose polygon
    is not covered by its floor's outline.

    Those two copies carry no foreign-key constraint in the database: the floor's does, and
    so do floor → building → site, so a building or site a unit's copies name cannot be
    deleted while its floors stand (Django's CASCADE and PROTECT work on them as on any
    relation). Two more constraints would check nothing new at twice the cost of a bulk
    import's commit (one deferred check per row each). The site index is the leading column
    of unit_site_status.
    """

    parent_field = "floor"
    floor = models.ForeignKey(Floor, models.CASCADE, related_name="units", verbose_name=_("floor"))
    building = models.ForeignKey(
        Building,
        models.CASCADE,
        related_name="units",
        editable=False,
        db_constraint=False,
        verbose_name=_("building"),
    )
    site = models.ForeignKey(
        Site,
        models.PROTECT,
        related_name="units",
        editable=False,
        db_constraint=False,
        db_index=False,
        verbose_name=_("site"),
    )
    number = models.CharField(_("unit number"), max_length=30, blank=True)
    geom = models.PolygonField(_("outline"), srid=4326, validators=[GeometryValidator("Polygon")])
    use = models.CharField(_("use"), max_length=20, choices=choices.UnitUse.choices)
    status = models.CharField(
        _("status"),
        max_length=20,
        choices=choices.UnitStatus.choices,
        default=choices.UnitStatus.VACANT,
    )
    gross_area = models.DecimalField(
        _("gross floor area (建筑面积, m²)"), max_digits=12, decimal_places=2, null=True, blank=True
    )
    usable_area = models.DecimalField(
        _("usable area (套内面积, m²)"), max_digits=12, decimal_places=2, null=True, blank=True
    )
    outside_floor = models.BooleanField(_("outside floor outline"), default=False, editable=False)
    bim_global_id = models.CharField(_("IFC GlobalId"), max_length=22, blank=True)
    area_m2 = area_column()

    class Meta(Feature.Meta):
        verbose_name = _("unit")
        verbose_name_plural = _("units")
        constraints = [
            _valid_geom("unit"),
            models.CheckConstraint(
                condition=Q(gross_area__isnull=True) | Q(gross_area__gt=0),
                name="unit_gross_area_positive",
            ),
            models.CheckConstraint(
                condition=Q(usable_area__isnull=True) | Q(usable_area__gt=0),
                name="unit_usable_area_positive",
            ),
            models.CheckConstraint(
                condition=Q(usable_area__isnull=True)
                | Q(gross_area__isnull=True)
                | Q(usable_area__lte=F("gross_area")),
                name="unit_usable_not_above_gross",
            ),
            models.UniqueConstraint(
                fields=["bim_global_id"],
                condition=~Q(bim_global_id=""),
                name="unit_bim_global_id_unique",
            ),
        ]
        indexes = [models.Index(fields=["site", "status"], name="unit_site_status")]

    def clean(self) -> None:
        # The check constraint says the same, but without naming the field at fault.
        if self.usable_area and self.gross_area and self.usable_area > self.gross_area:
            raise ValidationError(
                {"usable_area": [_("The usable area cannot exceed the gross floor area.")]}
            )


class Road(Feature):
    """道路: a road centre line; stake numbers (K0+000) run from start_stake_m."""

    parent_field = "site"
    site = models.ForeignKey(
        Site, models.PROTECT, null=True, blank=True, related_name="roads", verbose_name=_("site")
    )
    geom = models.LineStringField(
        _("centre line"), srid=4326, validators=[GeometryValidator("LineString")]
    )
    grade = models.CharField(_("grade"), max_length=20, choices=choices.RoadGrade.choices)
    width_m = models.DecimalField(
        _("width (m)"), max_digits=6, decimal_places=2, null=True, blank=True
    )
    lanes = models.PositiveSmallIntegerField(_("lanes"), null=True, blank=True)
    start_stake_m = models.DecimalField(
        _("start stake (m)"), max_digits=10, decimal_places=2, default=0
    )
    end_stake_m = models.DecimalField(_("end stake (m)"), max_digits=10, decimal_places=2)
    length_m = models.GeneratedField(
        expression=GeodesicLength("geom"),
        output_field=models.FloatField(),
        db_persist=True,
        verbose_name=_("computed length (m)"),
    )

    class Meta(Feature.Meta):
        verbose_name = _("road")
        verbose_name_plural = _("roads")
        constraints = [
            _valid_geom("road"),
            models.CheckConstraint(
                condition=Q(end_stake_m__gt=F("start_stake_m")), name="road_stakes_increase"
            ),
            models.CheckConstraint(condition=Q(start_stake_m__gte=0), name="road_stake_positive"),
        ]

    def clean(self) -> None:
        if self.end_stake_m is not None and self.start_stake_m is not None:
            if self.end_stake_m <= self.start_stake_m:
                raise ValidationError(
                    {"end_stake_m": [_("The end stake must be beyond the start stake.")]}
                )


class Park(Feature):
    """公园/绿地: a public park or green space."""

    parent_field = "site"
    site = models.ForeignKey(
        Site, models.PROTECT, null=True, blank=True, related_name="parks", verbose_name=_("site")
    )
    geom = models.MultiPolygonField(
        _("boundary"), srid=4326, validators=[GeometryValidator("MultiPolygon")]
    )
    kind = models.CharField(_("kind"), max_length=20, choices=choices.ParkKind.choices)
    green_area = models.DecimalField(
        _("official green area (m²)"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    opened_year = models.PositiveSmallIntegerField(_("year opened"), null=True, blank=True)
    area_m2 = area_column()

    class Meta(Feature.Meta):
        verbose_name = _("park")
        verbose_name_plural = _("parks")
        constraints = [_valid_geom("park")]


class Parcel(Feature):
    """土地/宗地: a land parcel with its title."""

    parent_field = "site"
    site = models.ForeignKey(
        Site, models.PROTECT, null=True, blank=True, related_name="parcels", verbose_name=_("site")
    )
    geom = models.MultiPolygonField(
        _("boundary"), srid=4326, validators=[GeometryValidator("MultiPolygon")]
    )
    land_use = models.CharField(_("land use"), max_length=4, choices=choices.LandUse.choices)
    land_right = models.CharField(
        _("land right"), max_length=20, choices=choices.LandRight.choices, blank=True
    )
    title_number = models.CharField(_("title certificate number"), max_length=80, blank=True)
    official_area = models.DecimalField(
        _("official area (m²)"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    right_end_date = models.DateField(_("land right ends"), null=True, blank=True)
    area_m2 = area_column()

    class Meta(Feature.Meta):
        verbose_name = _("parcel")
        verbose_name_plural = _("parcels")
        constraints = [
            _valid_geom("parcel"),
            models.CheckConstraint(
                condition=Q(official_area__isnull=True) | Q(official_area__gt=0),
                name="parcel_official_area_positive",
            ),
        ]


#: Every layer of the spatial graph, in graph order.
FEATURE_MODELS: tuple[type[Feature], ...] = (Site, Building, Floor, Unit, Road, Park, Parcel)
