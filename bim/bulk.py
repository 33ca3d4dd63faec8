"""Bulk inserts with PostgreSQL's COPY, for the hundreds of rows an import writes, with their
change history (django-simple-history's historical rows, as `bulk_create_with_history`
writes them: one "+" row per object, with the user and the reason).

Why not `bulk_create`: psycopg merges every parameter of a multi-row INSERT into the
statement in Python, which costs more than the whole database work for a model's units and
assets. COPY streams the rows instead. The ids come from the table's own sequence first, so
the objects know them, as after `bulk_create`.
"""

from collections.abc import Callable, Sequence

from django.contrib.gis.db.models import GeometryField
from django.db import connection, models
from django.db.models import Model
from django.utils import timezone
from simple_history.utils import get_history_manager_for_model

#: Fields whose Python value psycopg writes as it is.
_PLAIN = (
    models.CharField, models.TextField, models.IntegerField, models.BooleanField,
    models.FloatField, models.DecimalField, models.ForeignKey, models.UUIDField,
)  # fmt: skip


def copy_insert(model: type[Model], objs: Sequence[Model]) -> None:
    """INSERT `objs` (unsaved, validated) with COPY; generated columns are left to the
    database, auto_now fields set as `save()` would."""
    if not objs:
        return
    fields = _columns(model)
    _assign_ids(model, objs)
    converters = [_converter(field) for field in fields]
    _copy(model, fields, ([convert(obj) for convert in converters] for obj in objs))
    for obj in objs:
        obj._state.adding = False
        obj._state.db = connection.alias


def copy_insert_with_history(
    model: type[Model], objs: Sequence[Model], *, user=None, reason: str = ""
) -> None:
    """`copy_insert`, then a "created" historical row for each object, made straight from the
    object's values (the same values simple-history would copy)."""
    copy_insert(model, objs)
    historical = get_history_manager_for_model(model).model
    tracked = {f.attname for f in historical.tracked_fields}
    fields = _columns(historical)
    fixed = {
        "history_date": timezone.now(),
        "history_user_id": user.pk if user is not None else None,
        "history_change_reason": reason,
        "history_type": "+",
    }
    ids = _sequence_values(historical, len(objs))
    getters: list[Callable[[Model, int], object]] = []
    for field in fields:
        name = field.attname
        if field is historical._meta.pk:
            getters.append(lambda obj, n: ids[n])
        elif name in fixed:
            getters.append(lambda obj, n, value=fixed[name]: value)
        elif name == "history_relation_id":
            getters.append(lambda obj, n: obj.pk)
        elif name in tracked:
            convert = _converter(field, prepare=False)
            getters.append(lambda obj, n, convert=convert: convert(obj))
        else:
            raise ValueError(f"{historical._meta.label}.{name}: no value for it")
    _copy(historical, fields, ([get(obj, n) for get in getters] for n, obj in enumerate(objs)))


def _columns(model: type[Model]) -> list:
    fields = [f for f in model._meta.concrete_fields if not f.generated]
    if any(f.has_db_default() for f in fields):  # a default only the database knows
        raise ValueError(f"{model._meta.label} has database defaults; use bulk_create")
    return fields


def _sequence_values(model: type[Model], count: int) -> list[int]:
    meta = model._meta
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [meta.db_table, meta.pk.column, count],
        )
        return [value for (value,) in cursor.fetchall()]


def _assign_ids(model: type[Model], objs: Sequence[Model]) -> None:
    unsaved = [obj for obj in objs if obj.pk is None]
    if unsaved:
        attname = model._meta.pk.attname
        for obj, value in zip(unsaved, _sequence_values(model, len(unsaved)), strict=True):
            setattr(obj, attname, value)


def _copy(model: type[Model], fields: list, rows) -> None:
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    statement = f"COPY {quote(model._meta.db_table)} ({columns}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


def _converter(field, *, prepare: bool = True) -> Callable[[Model], object]:
    """How a field's value goes into COPY: as `save()` would prepare it, with shortcuts for
    the plain types (Django's preparation per value costs more than the COPY itself).
    `prepare=False` reads a value already prepared (a historical row's copy of it)."""
    attname = field.attname
    if isinstance(field, GeometryField):

        def geometry(obj):
            value = getattr(obj, attname)
            return None if value is None else value.hexewkb.decode("ascii")

        return geometry
    if not prepare or (isinstance(field, _PLAIN) and not isinstance(field, models.FileField)):
        if isinstance(field, models.JSONField):
            return lambda obj: field.get_db_prep_save(getattr(obj, attname), connection)
        return lambda obj: getattr(obj, attname)

    def prepared(obj):  # auto_now dates, files, JSON and whatever else
        value = field.pre_save(obj, add=True)
        return None if value is None else field.get_db_prep_save(value, connection)

    return prepared
