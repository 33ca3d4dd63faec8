"""Writes to the spatial graph. Each runs in a transaction, validates, then writes."""

from decimal import Decimal
from typing import Any

from django.contrib.gis.geos import GEOSGeometry, MultiLineString, MultiPolygon
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Concat, Substr

from spatial.models import Building, Company, Feature, Floor, Unit

# A unit may overhang its floor outline by this much (degrees; about 0.1 m) before it is flagged.
OUTLINE_TOLERANCE_DEG = 1e-6


# -- companies -------------------------------------------------------------------------------


def _company_path(parent: Company | None, pk: int) -> str:
    return f"{parent.path if parent else '/'}{pk}/"


@transaction.atomic
def company_create(**fields: Any) -> Company:
    company = Company(**fields)
    company.path = "/"  # placeholder until the id is known
    company.full_clean(exclude=["path"])
    company.save()
    company.path = _company_path(company.parent, company.pk)
    Company.objects.filter(pk=company.pk).update(path=company.path)
    return company


@transaction.atomic
def company_update(company: Company, **fields: Any) -> Company:
    company = Company.objects.select_for_update().get(pk=company.pk)
    old_path = company.path
    for name, value in fields.items():
        setattr(company, name, value)
    parent = company.parent
    if parent is not None and (parent.pk == company.pk or parent.path.startswith(old_path)):
        raise ValidationError({"parent": ["A company cannot be placed under itself or below."]})
    company.full_clean(exclude=["path"])
    new_path = _company_path(parent, company.pk)
    company.path = new_path
    company.save()
    if new_path != old_path:
        # Move the whole subtree with one statement.
        Company.objects.filter(path__startswith=old_path).exclude(pk=company.pk).update(
            path=Concat(Value(new_path), Substr(F("path"), len(old_path) + 1))
        )
    return company


# -- features --------------------------------------------------------------------------------


def coerce_geometry(model: type, fields: dict[str, Any]) -> None:
    """Check `fields["geom"]` before it reaches the model, whose geometry descriptor would
    raise a TypeError on a wrong type: promote a single part to the multi-part type the
    column holds (Polygon → MultiPolygon), then validate, naming the `geom` field."""
    geom: GEOSGeometry | None = fields.get("geom")
    if geom is None:
        return
    if not isinstance(geom, GEOSGeometry):
        raise ValidationError({"geom": ["Not a geometry."]})
    field = model._meta.get_field("geom")
    if geom.srid is None:
        geom.srid = 4326
    if field.geom_type == "MULTIPOLYGON" and geom.geom_type == "Polygon":
        geom = MultiPolygon(geom, srid=geom.srid)
    elif field.geom_type == "MULTILINESTRING" and geom.geom_type == "LineString":
        geom = MultiLineString(geom, srid=geom.srid)
    try:
        for validator in field.validators:
            validator(geom)
    except ValidationError as exc:
        raise ValidationError({"geom": exc.messages}) from exc
    fields["geom"] = geom


def _unit_prepare(unit: Unit) -> None:
    if unit.floor_id is None:
        return
    floor = Floor.objects.select_related("building").get(pk=unit.floor_id)
    unit.building_id = floor.building_id
    unit.site_id = floor.building.site_id
    if unit.company_id is None:
        unit.company_id = floor.company_id
    unit.outside_floor = unit_is_outside(unit.geom, floor.geom or floor.building.geom)


def unit_is_outside(geom: GEOSGeometry | None, outline: GEOSGeometry | None) -> bool:
    if geom is None or outline is None or geom.empty or not geom.valid:
        return False
    g = geom.transform(4326, clone=True) if geom.srid not in (None, 4326) else geom
    return not outline.buffer(OUTLINE_TOLERANCE_DEG).covers(g)


def _default_company_from_parent(instance: Feature) -> None:
    parent_field = instance.parent_field
    if instance.company_id is None and parent_field:
        parent = getattr(instance, parent_field, None)
        if parent is not None:
            instance.company_id = parent.company_id


_PREPARE = {Unit: _unit_prepare}


def _save_feature(instance: Feature) -> Feature:
    _default_company_from_parent(instance)
    prepare = _PREPARE.get(type(instance))
    if prepare:
        prepare(instance)
    instance.full_clean()
    instance.save()
    if isinstance(instance, Floor):
        floor_units_reflag(floor=instance)
    elif isinstance(instance, Building):
        Unit.objects.filter(building=instance).exclude(site_id=instance.site_id).update(
            site_id=instance.site_id
        )
    return instance


@transaction.atomic
def feature_create(model: type[Feature], **fields: Any) -> Feature:
    """Create a node of the spatial graph: validated, geometry coerced, derived fields set."""
    coerce_geometry(model, fields)
    return _save_feature(model(**fields))


@transaction.atomic
def feature_update(instance: Feature, **fields: Any) -> Feature:
    coerce_geometry(type(instance), fields)
    instance = type(instance).objects.select_for_update().get(pk=instance.pk)
    for name, value in fields.items():
        setattr(instance, name, value)
    return _save_feature(instance)


@transaction.atomic
def feature_delete(instance: Feature) -> None:
    instance.delete()


def floor_units_reflag(*, floor: Floor) -> int:
    """Recompute `outside_floor` for every unit of a floor in one statement; returns the count."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE spatial_unit u
               SET outside_floor = NOT ST_Covers(
                       ST_Buffer(COALESCE(f.geom, b.geom), %s), u.geom)
              FROM spatial_floor f JOIN spatial_building b ON b.id = f.building_id
             WHERE u.floor_id = f.id AND f.id = %s
            """,
            [OUTLINE_TOLERANCE_DEG, floor.pk],
        )
        return cursor.rowcount


def stake_label(metres) -> str:
    """A stake number in the Chinese road convention: 1234.5 m → "K1+234.5"."""
    value = Decimal(metres or 0).quantize(Decimal("0.001"))
    km, rest = divmod(value, 1000)
    whole = int(rest)
    text = f"K{int(km)}+{whole:03d}"
    fraction = rest - whole
    if fraction:
        text += str(fraction.normalize())[1:]  # ".5"
    return text
