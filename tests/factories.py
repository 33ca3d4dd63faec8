"""factory_boy factories for the spatial graph and the asset register.

Geometry is built from real coordinates in Hefei (117.2–117.3 E, 31.8–31.9 N), measured
in metres on the WGS 84 spheroid, and nested the way the graph is: each site has its own
200 m square, a building stands inside its site, a floor covers its building and a unit
lies inside its floor. Spatial rows are written through the services, as the API writes
them, so derived fields (paths, unit building/site, outside_floor) are right.
"""

from datetime import date
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.contrib.gis.geos import LineString, MultiPolygon, Polygon
from django.core.files.uploadedfile import SimpleUploadedFile
from pyproj import Geod

from portfolio import services as portfolio_services
from portfolio.models import Asset, AssetTag, Category, CodingRule, Document
from spatial import services as spatial_services
from spatial.choices import CompanyKind, Role
from spatial.models import Building, Company, Floor, Membership, Parcel, Park, Road, Site, Unit

GEOD = Geod(ellps="WGS84")
HEFEI = (117.25, 31.85)  # lon, lat: the Binhu side of the city centre
TODAY = date(2025, 6, 1)
PASSWORD = "correct-horse-battery"  # noqa: S105 - test users only

# A minimal but well-formed PDF: the magic bytes the upload check looks for, one empty page.
PDF_BYTES = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 17


# -- geometry ----------------------------------------------------------------------------------


def offset(lon: float, lat: float, east_m: float = 0, north_m: float = 0) -> tuple[float, float]:
    """The point `east_m` east and `north_m` north of (lon, lat), geodesically."""
    if east_m:
        lon, lat, _ = GEOD.fwd(lon, lat, 90 if east_m > 0 else 270, abs(east_m))
    if north_m:
        lon, lat, _ = GEOD.fwd(lon, lat, 0 if north_m > 0 else 180, abs(north_m))
    return lon, lat


def rect(lon: float, lat: float, width_m: float, height_m: float) -> Polygon:
    """A `width_m` × `height_m` rectangle whose south-west corner is (lon, lat)."""
    east, _ = offset(lon, lat, east_m=width_m)
    _, north = offset(lon, lat, north_m=height_m)
    ring = ((lon, lat), (east, lat), (east, north), (lon, north), (lon, lat))
    return Polygon(ring, srid=4326)


def origin(geom) -> tuple[float, float]:
    """The south-west corner of a geometry's extent."""
    xmin, ymin, _, _ = geom.extent
    return xmin, ymin


def site_origin(n: int) -> tuple[float, float]:
    """Sites on a 40 × 40 grid, 250 m apart: 117.20–117.30 E, 31.80–31.89 N."""
    return 117.20 + (n % 40) * 0.0025, 31.80 + (n // 40 % 40) * 0.0025


# -- factories ---------------------------------------------------------------------------------


class UserFactory(factory.django.DjangoModelFactory):
    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password(PASSWORD)

    class Meta:
        model = get_user_model()


def member(username: str, company, role: str):
    """A user with one role in one company."""
    from spatial.models import Membership

    user = UserFactory(username=username)
    Membership.objects.create(user=user, company=company, role=role)
    return user


class CompanyFactory(factory.django.DjangoModelFactory):
    code = factory.Sequence(lambda n: f"CO{n:04d}")
    name = factory.Sequence(lambda n: f"合肥测试公司{n}")
    kind = CompanyKind.PROJECT
    parent = None

    class Meta:
        model = Company

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return spatial_services.company_create(**kwargs)


class MembershipFactory(factory.django.DjangoModelFactory):
    user = factory.SubFactory(UserFactory)
    company = factory.SubFactory(CompanyFactory)
    role = Role.READ_ONLY

    class Meta:
        model = Membership


class FeatureFactory(factory.django.DjangoModelFactory):
    """Writes through spatial.services.feature_create, as the API does."""

    code = factory.Sequence(lambda n: f"F{n:05d}")

    class Meta:
        abstract = True

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return spatial_services.feature_create(model_class, **kwargs)


class SiteFactory(FeatureFactory):
    code = factory.Sequence(lambda n: f"S{n:05d}")
    name = factory.Sequence(lambda n: f"滨湖产业园{n}")
    company = factory.SubFactory(CompanyFactory)
    kind = "office_park"
    geom = factory.Sequence(lambda n: MultiPolygon(rect(*site_origin(n), 200, 200), srid=4326))

    class Meta:
        model = Site


class BuildingFactory(FeatureFactory):
    code = factory.Sequence(lambda n: f"B{n:05d}")
    name = factory.Sequence(lambda n: f"{n}号楼")
    site = factory.SubFactory(SiteFactory)
    company = factory.SelfAttribute("site.company")
    use = "office"
    floors_above = 5
    geom = factory.LazyAttribute(lambda o: rect(*offset(*origin(o.site.geom), 20, 20), 60, 40))

    class Meta:
        model = Building


class FloorFactory(FeatureFactory):
    code = factory.Sequence(lambda n: f"FL{n:05d}")
    name = factory.LazyAttribute(lambda o: f"{o.level}F")
    building = factory.SubFactory(BuildingFactory)
    company = factory.SelfAttribute("building.company")
    level = factory.Sequence(lambda n: n + 1)
    geom = factory.LazyAttribute(lambda o: o.building.geom.clone())

    class Meta:
        model = Floor


def unit_slot(floor_geom, n: int) -> Polygon:
    """One of 15 9 m × 9 m slots on a 60 m × 40 m floor, 1 m apart from each other."""
    col, row = n % 5, n // 5 % 3
    return rect(*offset(*origin(floor_geom), 2 + col * 11, 2 + row * 11), 9, 9)


class UnitFactory(FeatureFactory):
    code = factory.Sequence(lambda n: f"U{n:05d}")
    name = factory.Sequence(lambda n: f"{n}室")
    number = factory.Sequence(lambda n: f"{n:03d}")
    floor = factory.SubFactory(FloorFactory)
    company = factory.SelfAttribute("floor.company")
    use = "office"
    status = "vacant"
    gross_area = Decimal("81.00")
    usable_area = Decimal("68.50")
    geom = factory.LazyAttributeSequence(lambda o, n: unit_slot(o.floor.geom, n))

    class Meta:
        model = Unit


class RoadFactory(FeatureFactory):
    code = factory.Sequence(lambda n: f"R{n:05d}")
    name = factory.Sequence(lambda n: f"园区支路{n}")
    site = factory.SubFactory(SiteFactory)
    company = factory.SelfAttribute("site.company")
    grade = "internal"
    start_stake_m = Decimal("0.00")
    end_stake_m = Decimal("180.00")
    geom = factory.LazyAttribute(
        lambda o: LineString(
            offset(*origin(o.site.geom), 10, 5), offset(*origin(o.site.geom), 190, 5), srid=4326
        )
    )

    class Meta:
        model = Road


class ParkFactory(FeatureFactory):
    code = factory.Sequence(lambda n: f"P{n:05d}")
    name = factory.Sequence(lambda n: f"口袋公园{n}")
    site = factory.SubFactory(SiteFactory)
    company = factory.SelfAttribute("site.company")
    kind = "pocket"
    geom = factory.LazyAttribute(
        lambda o: MultiPolygon(rect(*offset(*origin(o.site.geom), 100, 100), 80, 80), srid=4326)
    )

    class Meta:
        model = Park


class ParcelFactory(FeatureFactory):
    code = factory.Sequence(lambda n: f"L{n:05d}")
    name = factory.Sequence(lambda n: f"宗地{n}")
    site = factory.SubFactory(SiteFactory)
    company = factory.SelfAttribute("site.company")
    land_use = "05"
    land_right = "granted"
    geom = factory.LazyAttribute(
        lambda o: MultiPolygon(rect(*offset(*origin(o.site.geom), 5, 5), 190, 190), srid=4326)
    )

    class Meta:
        model = Parcel


def category(code: str) -> Category:
    """A GB/T 14885 class, loaded by portfolio's data migration."""
    return Category.objects.get(code=code)


class CategoryFactory(factory.django.DjangoModelFactory):
    code = factory.Sequence(lambda n: f"99{n:05d}")
    name = factory.Sequence(lambda n: f"自定义类别{n}")
    parent = factory.LazyFunction(lambda: category("2"))
    level = factory.LazyAttribute(lambda o: o.parent.level + 1 if o.parent else 1)
    useful_life_months = 60

    class Meta:
        model = Category


class CodingRuleFactory(factory.django.DjangoModelFactory):
    name = factory.Sequence(lambda n: f"编码规则{n}")
    pattern = "{company}-{category}-{year}-{seq:05}"
    company = None
    category = None

    class Meta:
        model = CodingRule


class AssetFactory(factory.django.DjangoModelFactory):
    """Written through portfolio.services.asset_create, with an explicit code."""

    code = factory.Sequence(lambda n: f"A{n:06d}")
    name = factory.Sequence(lambda n: f"笔记本电脑{n}")
    category = factory.LazyFunction(lambda: category("2010000"))
    company = factory.SubFactory(CompanyFactory)
    acquisition_cost = Decimal("6999.00")

    class Meta:
        model = Asset

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return portfolio_services.asset_create(today=TODAY, **kwargs)


class AssetTagFactory(factory.django.DjangoModelFactory):
    asset = factory.SubFactory(AssetFactory)
    kind = "barcode"
    value = factory.Sequence(lambda n: f"6901234{n:06d}")

    class Meta:
        model = AssetTag

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return portfolio_services.asset_tag_add(**kwargs)


def pdf_upload(name: str = "certificate.pdf", content: bytes = PDF_BYTES) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/pdf")


class DocumentFactory(factory.django.DjangoModelFactory):
    """Written through portfolio.services.document_attach, with a small real PDF."""

    kind = "property_certificate"
    title = factory.Sequence(lambda n: f"不动产权证{n}")
    target = factory.SubFactory(AssetFactory)
    upload = factory.LazyFunction(pdf_upload)

    class Meta:
        model = Document

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return portfolio_services.document_attach(**kwargs)
