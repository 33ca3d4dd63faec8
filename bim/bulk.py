"""Bulk inserts for the hundreds of rows an import writes, with their change history
(django-simple-history's historical rows, as `bulk_create_with_history` writes them: one "+"
row per object, with the user and the reason) — one statement for both, and for several
tables at once.

Why not `bulk_create`: psycopg merges every parameter of a multi-row INSERT into the
statement in Python (microseconds a value), which costs more than the whole database work
for a model's units and assets. Here the rows travel as one JSON parameter (made by the json
module in C) that PostgreSQL turns into rows of the table's own type
(`json_populate_recordset`, each value read by its column type's input function), and the
historical rows are made from what was inserted, in the same statement (data-modifying
WITH queries); `InsertBatch` sends the rows of several tables in one statement too.

The ids come from the table's own sequence first, so the objects know them, as after
`bulk_create`. Geometries may be given as HEXEWKB strings (a geometry field accepts them and
parses them only when read): the import makes them for all its polygons in one vectorized
call.
"""

import json
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Any
from uuid import UUID

import psycopg
from django.contrib.gis.db.models import GeometryField
from django.db import connection, models
from django.db.models import Model
from django.utils import timezone
from simple_history.utils import get_history_manager_for_model

#: Fields whose Python value goes into JSON as it is (or by `_json_default`).
_PLAIN = (
    models.CharField, models.TextField, models.IntegerField, models.BooleanField,
    models.DecimalField, models.ForeignKey, models.UUIDField,
)  # fmt: skip


class InsertBatch:
    """Inserts gathered and sent together, in one statement of data-modifying WITH queries,
    when `flush` is called: after the Python work of a whole import, the round trips are
    what is left, and a round trip to a backend that has been waiting costs more than the
    inserts of a small model. Django's foreign keys are checked at commit, so the order of
    the inserts within the statement does not matter.

    Within `sending()`, the connection is in psycopg's pipeline mode: `send` and `execute`
    put a statement on its way without waiting for it, and the database runs it while
    Python makes the next rows; `wait` (and `flush`, and leaving `sending`) then takes in
    the results, raising what the database refused as Django's errors. Any other query made
    through Django meanwhile waits for them first, so nothing sees the connection busy.

    Objects without an id get one from their table's sequence when they are added (one
    query per call); give them ids beforehand to save those queries too."""

    def __init__(self) -> None:
        self._queries: list[str] = []
        self._params: list = []
        self._objs: list[Model] = []
        self._sending = False
        self._pipeline = None  # the connection's pipeline while statements are on their way

    @contextmanager
    def sending(self) -> Iterator["InsertBatch"]:
        """Send statements as they are made (see the class); everything queued is flushed at
        the end. Without pipeline support in the libpq at hand, statements run as before."""
        if not psycopg.Pipeline.is_supported():
            yield self
            self.flush()
            return
        with connection.execute_wrapper(self._wait_first):
            self._sending = True
            try:
                yield self
                self.flush()
            finally:
                self._sending = False
                self._leave(quietly=True)  # after an error: what was on its way is dropped

    def execute(self, statement: str, params: Sequence) -> Any:
        """Run one statement and return its cursor: within `sending` it is sent and not
        waited for (read the cursor after `wait`), else it runs now."""
        if not self._sending:
            cursor = connection.cursor()
            cursor.execute(statement, params)
            return cursor
        connection.ensure_connection()
        raw = connection.connection
        if self._pipeline is None:
            self._pipeline = raw.pipeline()
            self._pipeline.__enter__()
        cursor = raw.cursor()
        with connection.wrap_database_errors:
            cursor.execute(statement, params)
        return cursor

    def send(self) -> None:
        """Put what was queued on its way, as one statement, without waiting for it (within
        `sending`; outside, it waits for `flush`)."""
        if self._sending:
            self._execute_queued()

    def wait(self) -> None:
        """Take in the results of what was sent, raising what the database refused."""
        self._leave(quietly=False)

    def _leave(self, *, quietly: bool) -> None:
        pipeline, self._pipeline = self._pipeline, None
        if pipeline is None:
            return
        if quietly:  # an error is on its way up already; the transaction is rolled back
            dropped = _Dropped()
            pipeline.__exit__(_Dropped, dropped, None)
            return
        with connection.wrap_database_errors:
            pipeline.__exit__(None, None, None)

    def _wait_first(self, execute, sql, params, many, context):
        self.wait()
        return execute(sql, params, many, context)

    def __bool__(self) -> bool:
        return bool(self._queries)

    def add(
        self,
        model: type[Model],
        objs: Sequence[Model],
        *,
        ids: bool = True,
        history: bool = False,
        user=None,
        reason: str = "",
    ) -> None:
        """Queue `objs` (unsaved, validated): generated columns are left to the database,
        auto_now fields set as `save()` would. With `ids` False the ids are left to the
        column's default too, and the objects do not learn them (rows nothing refers to).
        With `history`, a "created" historical row for each, made from the row as stored
        (the values simple-history would copy), its id from its column's default."""
        if not objs:
            return
        n = len(self._queries)
        insert, params = _insert(model, objs, ids=ids)
        if not history:
            self._queries.append(f"i{n} AS ({insert})")
            self._params.extend(params)
            self._objs.extend(objs)
            return
        template, fixed = _history_insert(model)
        given = {
            "history_date": timezone.now(),
            "history_user_id": user.pk if user is not None else None,
            "history_change_reason": reason,
            "history_type": "+",
        }
        self._queries.append(template.format(n=n, insert=insert))
        self._params.extend([*params, *(given[name] for name in fixed)])
        self._objs.extend(objs)

    def flush(self) -> None:
        """Send what was queued (nothing when nothing was) and wait for all that was sent."""
        self._execute_queued()
        self.wait()

    def _execute_queued(self) -> None:
        if not self._queries:
            return
        statement = f"WITH {', '.join(self._queries)} SELECT 1"
        params, objs = self._params, self._objs
        self._queries, self._params, self._objs = [], [], []
        self.execute(statement, params).close()
        for obj in objs:
            obj._state.adding = False
            obj._state.db = connection.alias


class _Dropped(Exception):
    """Given to a pipeline left after an error, so that it drops its results quietly."""


@cache
def _history_insert(model: type[Model]) -> tuple[str, list[str]]:
    """The WITH queries that insert rows of `model` ({insert}) and their historical rows
    from what they return, as a template for the query number {n}; and the names of the
    historical fields given as parameters (the history's date, user, reason and type), in
    order. Built once per model: the historical model has dozens of fields."""
    historical = _historical(model)
    tracked = {f.attname for f in historical.tracked_fields}
    source = {f.attname: f for f in _columns(model)}
    quote = connection.ops.quote_name
    targets, values, fixed = [], [], []
    for field in _columns(historical):
        name = field.attname
        if field is historical._meta.pk:
            continue  # its own sequence
        targets.append(quote(field.column))
        if name in ("history_date", "history_user_id", "history_change_reason", "history_type"):
            values.append("%s")
            fixed.append(name)
        elif name in tracked and name in source:
            values.append(quote(source[name].column))
        else:
            raise ValueError(f"{historical._meta.label}.{name}: no value for it")
    pk = quote(model._meta.pk.column)
    template = (
        "i{n} AS ({insert} RETURNING *), "  # noqa: S608 - the models' own names, quoted
        f"h{{n}} AS (INSERT INTO {quote(historical._meta.db_table)} ({', '.join(targets)}) "
        f"SELECT {', '.join(values)} FROM i{{n}} ORDER BY {pk})"
    )
    return template, fixed


@cache
def _historical(model: type[Model]) -> type[Model]:
    """The model's historical model (simple-history's manager builds itself anew on every
    access, with a walk over its queryset's methods)."""
    return get_history_manager_for_model(model).model


def _insert(model: type[Model], objs: Sequence[Model], *, ids: bool) -> tuple[str, list]:
    """The INSERT … SELECT of `objs` from one JSON parameter, and its parameters."""
    if ids:
        _assign_ids(model, objs)
    statement, converters = _insert_statement(model, ids)
    rows = [{column: convert(obj) for column, convert in converters} for obj in objs]
    return statement, [json.dumps(rows, default=_json_default, allow_nan=False)]


@cache
def _insert_statement(model: type[Model], ids: bool) -> tuple[str, list]:
    """The INSERT of `model`'s rows from one JSON parameter, and how each column's value is
    made (built once per model)."""
    fields = _columns(model)
    if not ids:
        fields = [f for f in fields if f is not model._meta.pk]
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    columns = ", ".join(quote(f.column) for f in fields)
    statement = (
        f"INSERT INTO {table} ({columns}) SELECT {columns} "  # noqa: S608 - the model's own names
        f"FROM json_populate_recordset(NULL::{table}, %s::json)"
    )
    return statement, [(field.column, _converter(field)) for field in fields]


def _json_default(value):
    """JSON for what json does not know: text each column type's input function reads."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


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


def _converter(field) -> Callable[[Model], object]:
    """How a field's value goes into the JSON: as `save()` would prepare it, with shortcuts
    for the plain types (Django's preparation per value costs more than the insert)."""
    attname = field.attname
    if isinstance(field, GeometryField):

        def geometry(obj):
            # A HEXEWKB string as it was set (the import sets them so), else the geometry.
            value = obj.__dict__.get(attname)
            if value is None or isinstance(value, str):
                return value
            return getattr(obj, attname).hexewkb.decode("ascii")

        return geometry
    if isinstance(field, models.FloatField):

        def number(obj):  # JSON has no NaN or infinity; float8's input reads them as text
            value = getattr(obj, attname)
            if value is None or math.isfinite(value):
                return value
            return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")

        return number
    if isinstance(field, models.JSONField):
        return lambda obj: getattr(obj, attname)  # a nested JSON value
    if isinstance(field, _PLAIN):
        return lambda obj: getattr(obj, attname)

    def prepared(obj):  # dates (auto_now), files and whatever else
        value = field.pre_save(obj, add=True)
        return None if value is None else field.get_db_prep_save(value, connection)

    return prepared
