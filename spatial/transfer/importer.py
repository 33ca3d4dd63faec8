"""Import a layer of the spatial graph from a file: validate every row, then write all or none.

`layer_import` reads the file (spatial/transfer/sources.py), maps its columns to the layer's
fields (spatial/transfer/layers.py), transforms the geometry to EPSG:4326, and checks every
row before anything is written:

- geometry: missing, unreadable, empty, wrong type, non-finite or out-of-range coordinates,
  invalid (the same messages as the API, from spatial.validators.GeometryValidator through
  spatial.services.coerce_geometry), outside the expected region;
- attributes: required, too long, not a valid choice, not a number / integer / date, out of
  range, the model's own rules (usable area above gross, stakes not increasing, ...);
- references: unknown company or parent code (among those the user can see), duplicate code
  within the file, a floor level already taken in its building;
- scope: the user may add (new codes) or change (existing codes) rows of that company.

The checks are vectorised where they can be (shapely 2 on all geometries at once; one query
per referenced table). With no error the rows are upserted by code inside one transaction:
new rows with COPY, existing rows with COPY into a temporary table and one UPDATE, derived
unit fields (building, site, outside_floor) with one statement each. A dry run stops before
writing and reports the same errors and the counts it would create and update.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely
from django.conf import settings
from django.contrib.gis.geos import GEOSGeometry
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter

from spatial import access
from spatial.models import Building, Company, Floor, Unit
from spatial.services import OUTLINE_TOLERANCE_DEG
from spatial.transfer.crs import Crs, CrsError, parse_crs, to_wgs84
from spatial.transfer.layers import (
    LAYERS,
    REGISTERED,
    Column,
    Layer,
    layer_names,
    normalise_header,
)
from spatial.transfer.sources import Source, TransferError, read_source
from spatial.validators import CODE_RE, validate_code

#: Where imported geometry is expected to lie (lon/lat after transformation): China.
DEFAULT_REGION = (73.0, 3.0, 136.0, 54.0)
#: At most this many row errors are listed in a report; `error_count` has them all.
MAX_LISTED_ERRORS = 1000
#: Lookups by code go in batches of this size (PostgreSQL binds at most 65535 parameters).
BATCH = 20_000

STAKE_RE = re.compile(r"^K(\d+)\+(\d+(?:\.\d*)?)$", re.IGNORECASE)


def import_region() -> tuple[float, float, float, float]:
    """The expected region: settings.IMPORT_REGION (minLon, minLat, maxLon, maxLat) or China."""
    return tuple(getattr(settings, "IMPORT_REGION", None) or DEFAULT_REGION)


# -- the report ---------------------------------------------------------------------------------


@dataclass
class RowError:
    row: int  # 1-based feature / data row number as in the file
    field: str  # the layer's column (a model field or "<parent>_code"), or "geom"
    code: str  # machine-readable reason
    message: str
    column: str | None = None  # the header in the file, when it differs from `field`
    line: int | None = None  # spreadsheet row / text line (CSV and XLSX)


@dataclass
class ImportReport:
    layer: str
    file: str
    format: str = ""
    source_layer: str | None = None
    crs: str = ""
    crs_source: str = ""
    rows: int = 0
    create: int = 0
    update: int = 0
    dry_run: bool = False
    committed: bool = False
    error_count: int = 0
    errors: list[RowError] = field(default_factory=list)
    columns: dict[str, str] = field(default_factory=dict)  # layer column → header in file
    ignored_columns: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    history: bool = True
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error_count == 0

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["valid"] = self.ok
        data["errors"] = [{k: v for k, v in e.items() if v is not None} for e in data["errors"]]
        return data


class _Errors:
    """Collects row errors; remembers which rows have one. The report lists the first
    MAX_LISTED_ERRORS in file order and counts them all."""

    def __init__(self, report: ImportReport, source: Source, columns: dict[str, str]):
        self.report = report
        self.rows = source.rows
        self.lines = source.lines
        self.columns = columns
        self.bad = np.zeros(len(source.rows), dtype=bool)
        self.found: list[tuple[int, str, str, str]] = []

    def add(self, index: int, field_name: str, code: str, message: str) -> None:
        self.bad[index] = True
        self.found.append((index, field_name, code, str(message)))

    def sort(self) -> None:
        self.found.sort(key=lambda e: (e[0], e[1]))
        self.report.error_count = len(self.found)
        self.report.errors = [
            RowError(
                row=int(self.rows[index]),
                field=field_name,
                code=code,
                message=message,
                column=self._column(field_name),
                line=int(self.lines[index]) if self.lines is not None else None,
            )
            for index, field_name, code, message in self.found[:MAX_LISTED_ERRORS]
        ]

    def _column(self, field_name: str) -> str | None:
        column = self.columns.get(field_name)
        return column if column and column != field_name else None


# -- entry point --------------------------------------------------------------------------------


def layer_import(
    *,
    layer: str,
    path: Path,
    crs: str | None = None,
    company: str | None = None,
    user=None,
    dry_run: bool = False,
    defaults: dict[str, str] | None = None,
    region: tuple[float, float, float, float] | None = None,
    source_layer: str | None = None,
    history: bool = True,
    file_name: str | None = None,
) -> ImportReport:
    """Validate every row of `path` as `layer`, then (unless `dry_run` or any row is wrong)
    upsert all rows by code in one transaction. `user` None means no scoping (a command run
    by an operator). Raises TransferError for a file that cannot be imported at all."""
    started = time.perf_counter()
    spec = LAYERS.get(layer)
    if spec is None and layer in REGISTERED:
        # A layer of another app (assets): written row by row through that app's services.
        from spatial.transfer.registered import registered_import

        return registered_import(
            REGISTERED[layer], path=path, crs=crs, company=company, user=user,
            dry_run=dry_run, defaults=defaults, region=region, source_layer=source_layer,
            file_name=file_name,
        )  # fmt: skip
    if spec is None:
        raise TransferError(f"Unknown layer {layer!r}; one of {', '.join(layer_names())}.", "layer")
    given_crs = _parse_given_crs(crs)
    path = Path(path)
    report = ImportReport(
        layer=layer, file=file_name or path.name, dry_run=dry_run, history=history
    )
    with _timed(report, "read"):
        source = read_source(path, layer_name=layer, source_layer=source_layer)
    report.format, report.source_layer = source.format, source.source_layer
    report.rows = len(source.frame)
    report.warnings.extend(source.warnings)
    report.crs, report.crs_source, source_crs = _choose_crs(source, given_crs)

    context = transaction.atomic() if not dry_run else _NoTransaction()
    try:
        with context:
            job = _Import(spec, source, source_crs, report, user=user, region=region)
            job.map_columns(defaults or {})
            job.resolve_company(company)
            job.check()
            if report.ok and not dry_run:
                job.write(history=history)
                report.committed = True
            written = time.perf_counter()
        if report.committed:
            # Deferred foreign-key checks run here, one per reference of every written row.
            report.seconds["commit"] = round(time.perf_counter() - written, 3)
    except IntegrityError as exc:
        report.committed = False
        raise TransferError.conflict(exc) from exc
    report.seconds["total"] = round(time.perf_counter() - started, 3)
    return report


@contextmanager
def _timed(report: ImportReport, name: str):
    """Adds the seconds spent in the block to `report.seconds[name]`."""
    started = time.perf_counter()
    try:
        yield
    finally:
        spent = time.perf_counter() - started
        report.seconds[name] = round(report.seconds.get(name, 0.0) + spent, 3)


class _NoTransaction:
    def __enter__(self):
        return self

    def __exit__(self, *exc) -> bool:
        return False


def _parse_given_crs(text: str | None) -> Crs | None:
    if text is None or not str(text).strip():
        return None
    try:
        return parse_crs(text)
    except CrsError as exc:
        raise TransferError(str(exc), "crs") from exc


def _choose_crs(source: Source, given: Crs | None) -> tuple[str, str, Crs]:
    """A CRS given with the import wins over the file's (a GeoJSON file in GCJ-02 says
    nothing, or claims WGS 84); without either the import cannot place the rows."""
    if given is not None:
        return given.label, "given", given
    if source.crs is not None:
        return source.crs.label, source.crs_note, source.crs
    raise TransferError(
        "The file does not say which coordinate system it is in; give one (crs), "
        "e.g. EPSG:4548, CGCS2000-GK3-CM117 or GCJ02.",
        "crs",
    )


# -- one import ---------------------------------------------------------------------------------


def _text(value: Any) -> str:
    """A cell as text: empty for missing values, whole numbers without '.0'."""
    if value is None or value is pd.NaT:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, np.generic):
        return _text(value.item())
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    return str(value).strip()


def _cell_texts(series: pd.Series) -> list[str]:
    """A column's cells as text (see _text). A numeric column holds far fewer distinct values
    than rows (areas, levels, years): each is converted once."""
    values = series.to_numpy()
    if values.dtype.kind in "fiub":
        distinct, inverse = np.unique(values, return_inverse=True)
        texts = [_text(v) for v in distinct.tolist()]
        return [texts[k] for k in inverse.ravel().tolist()]
    return [v.strip() if type(v) is str else _text(v) for v in series.tolist()]


def _chunks(values: list, size: int = BATCH) -> Iterable[list]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


class _Import:
    """The state of one import, from mapped columns to written rows."""

    def __init__(self, spec: Layer, source: Source, crs: Crs, report: ImportReport, *, user,
                 region):  # fmt: skip
        self.spec = spec
        self.model = spec.model
        self.source = source
        self.crs = crs
        self.report = report
        self.user = user
        self.region = tuple(region) if region else import_region()
        self.n = len(source.frame)
        self.present: set[str] = set()  # layer columns the file (or a default) provides
        self.raw: dict[str, list[str]] = {}  # column → cell texts
        self.values: dict[str, list[Any]] = {}  # column → parsed values
        self.company_default: Company | None = None
        self.errors: _Errors

    # -- columns ----------------------------------------------------------------------------

    def map_columns(self, defaults: dict[str, str]) -> None:
        lookup = self.spec.lookup()
        quiet = {normalise_header(c) for c in (*self.spec.export_extra, "cad_layer")}
        mapped: dict[str, str] = {}
        for header in self.source.frame.columns:
            key = normalise_header(header)
            column = lookup.get(key)
            if column is None:
                if key not in quiet:
                    self.report.ignored_columns.append(str(header))
                continue
            if column.name in mapped:
                self.report.warnings.append(
                    f"Both {mapped[column.name]!r} and {header!r} give {column.name}; "
                    f"{header!r} is ignored."
                )
                continue
            mapped[column.name] = str(header)
        self.report.columns = mapped
        self.errors = _Errors(self.report, self.source, mapped)
        for name, header in mapped.items():
            self.raw[name] = _cell_texts(self.source.frame[header])
            self.present.add(name)
        for key, value in defaults.items():
            column = lookup.get(normalise_header(key))
            if column is None:
                raise TransferError(
                    f"{key!r} is not a column of {self.spec.name}; columns: "
                    f"{', '.join(c.name for c in self.spec.columns)}.",
                    "set",
                )
            cells = self.raw.setdefault(column.name, [""] * self.n)
            self.raw[column.name] = [c or str(value).strip() for c in cells]
            self.present.add(column.name)

    def _visible(self, model) -> models.QuerySet:
        """What the import may refer to: all rows for an operator, else what the user sees."""
        if self.user is None:
            return model.objects.all()
        return model.objects.restrict(self.user, "view")

    def resolve_company(self, code: str | None) -> None:
        if not code:
            return
        company = self._visible(Company).filter(code=code).first()
        if company is None:
            raise TransferError(f"Unknown company {code!r}.", "company")
        if self.user is not None and not (
            access.can(self.user, "add", self.model, company.pk)
            or access.can(self.user, "change", self.model, company.pk)
        ):
            raise TransferError(
                f"You may not import {self.model._meta.verbose_name_plural} into {company.code}.",
                "company",
                status=403,
            )
        self.company_default = company

    # -- checks -----------------------------------------------------------------------------

    def check(self) -> None:
        report = self.report
        with _timed(report, "check codes"):
            self._check_codes()
        with _timed(report, "check geometry"):
            self._check_geometry()
        with _timed(report, "check attributes"):
            for column in self.spec.columns:
                if column.kind not in ("code", "ref"):
                    self._parse(column)
        with _timed(report, "check references"):
            self._check_company_and_parent()
        with _timed(report, "check rules"):
            self._check_rules()
        self.errors.sort()
        new = int(np.count_nonzero(self.is_new))
        self.report.create, self.report.update = new, self.n - new

    def _cells(self, name: str) -> list[str]:
        return self.raw.get(name) or [""] * self.n

    def _check_codes(self) -> None:
        codes = self._cells("code")
        seen: dict[str, int] = {}
        for i, code in enumerate(codes):
            if not code:
                self.errors.add(i, "code", "required", _("This field cannot be blank."))
            elif len(code) > 64 or not CODE_RE.match(code):
                try:
                    validate_code(code)
                except ValidationError as exc:
                    self.errors.add(i, "code", "invalid_code", exc.messages[0])
            elif code in seen:
                self.errors.add(
                    i, "code", "duplicate_code",
                    _("Duplicate code “%(code)s”: also on row %(row)s.")
                    % {"code": code, "row": int(self.source.rows[seen[code]])},
                )  # fmt: skip
            else:
                seen[code] = i
        self.codes = codes
        self.existing = self._existing(list(seen))
        self.is_new = np.array([c not in self.existing for c in codes], dtype=bool)

    def _existing(self, codes: list[str]) -> dict[str, dict[str, Any]]:
        """Stored rows with these codes, locked for the rest of the transaction when writing,
        with the fields the checks compare against."""
        meta = self.model._meta
        names = ["id", "company_id"]
        if self.spec.parent:
            names.append(meta.get_field(self.spec.parent).attname)
        names += [
            f for f in self.spec.fields if meta.get_field(f).get_internal_type() != "GeometryField"
        ]
        lock = sql.SQL(" FOR UPDATE") if not self.report.dry_run else sql.SQL("")
        query = (
            sql.SQL("SELECT code, {} FROM {} WHERE code = ANY(%s::text[])").format(
                sql.SQL(", ").join(map(sql.Identifier, names)), sql.Identifier(meta.db_table)
            )
            + lock
        )
        found: dict[str, dict[str, Any]] = {}
        with connection.cursor() as cursor:
            for chunk in _chunks(codes, 100_000):
                # Valid codes hold only letters, digits, '-', '_' and '.': quoted, they make
                # an array literal, bound as one value whatever the number of codes.
                cursor.execute(query, ["{" + ",".join(f'"{c}"' for c in chunk) + "}"])
                for code, *values in cursor.fetchall():
                    found[code] = dict(zip(names, values, strict=True))
        return found

    def _check_geometry(self) -> None:
        spec, model = self.spec, self.model
        geoms = np.asarray(self.source.geoms, dtype=object).copy()
        for i, message in self.source.geom_errors.items():
            self.errors.add(i, "geom", "invalid_geometry", message)
        geoms = to_wgs84(geoms, self.crs)
        geoms = _adapt(geoms, spec.geom_type)
        missing = shapely.is_missing(geoms)
        for i in np.flatnonzero(missing):
            if spec.geom_required and i not in self.source.geom_errors:
                self.errors.add(int(i), "geom", "required", _("This field cannot be null."))
        present = ~missing
        type_ok = np.zeros(self.n, dtype=bool)
        type_ok[present] = shapely.get_type_id(geoms[present]) == _TYPE_IDS[spec.geom_type]
        bounds = shapely.bounds(geoms)
        with np.errstate(invalid="ignore"):
            finite = np.isfinite(bounds).all(axis=1)
            in_range = (
                (bounds[:, 0] >= -180) & (bounds[:, 2] <= 180)
                & (bounds[:, 1] >= -90) & (bounds[:, 3] <= 90)
            )  # fmt: skip
        valid = np.zeros(self.n, dtype=bool)
        valid[present] = shapely.is_valid(geoms[present])
        empty = np.zeros(self.n, dtype=bool)
        empty[present] = shapely.is_empty(geoms[present])
        suspect = present & (empty | ~type_ok | ~finite | ~in_range | ~valid)
        for i in np.flatnonzero(suspect):
            self.errors.add(int(i), "geom", *_geometry_reason(model, geoms[i]))
        xmin, ymin, xmax, ymax = self.region
        with np.errstate(invalid="ignore"):
            inside = (
                (bounds[:, 0] >= xmin) & (bounds[:, 2] <= xmax)
                & (bounds[:, 1] >= ymin) & (bounds[:, 3] <= ymax)
            )  # fmt: skip
        for i in np.flatnonzero(present & ~suspect & ~inside):
            b = bounds[i]
            self.errors.add(
                int(i), "geom", "outside_region",
                _(
                    "Coordinates are outside the expected region (longitude %(xmin)s..%(xmax)s, "
                    "latitude %(ymin)s..%(ymax)s) after transformation to EPSG:4326: "
                    "%(extent)s. Is the coordinate system (%(crs)s) right?"
                ) % {
                    "xmin": xmin, "xmax": xmax, "ymin": ymin, "ymax": ymax, "crs": self.crs,
                    "extent": f"{b[0]:.6f},{b[1]:.6f},{b[2]:.6f},{b[3]:.6f}",
                },
            )  # fmt: skip
        self.geoms = geoms

    def _parse(self, column: Column) -> None:
        name = column.name
        model_field = column.model_field
        parse = _PARSERS[column.kind]
        parsed: list[Any] = [None] * self.n
        cells = self.raw.get(name)
        if cells is None:  # not in the file: new rows get the default, stored rows keep theirs
            if column.required:
                message = model_field.error_messages["blank"]
                for i in np.flatnonzero(self.is_new):
                    self.errors.add(int(i), name, "required", message)
            default = model_field.get_default()
            self.values[name] = [default] * self.n
            return
        default = model_field.get_default()
        # cell → (value, None) or (None, (code, message)): a column repeats its values (uses,
        # statuses, areas of like units), each distinct cell is parsed once.
        seen: dict[str, tuple[Any, tuple[str, str] | None]] = {}
        for i, cell in enumerate(cells):
            if cell == "":
                if column.required:
                    self.errors.add(i, name, "required", model_field.error_messages["blank"])
                parsed[i] = default
                continue
            outcome = seen.get(cell)
            if outcome is None:
                try:
                    outcome = (parse(column, cell), None)
                except ValidationError as exc:
                    outcome = (None, (_error_code(exc, "invalid"), exc.messages[0]))
                seen[cell] = outcome
            value, error = outcome
            if error is None:
                parsed[i] = value
            else:
                self.errors.add(i, name, *error)
        self.values[name] = parsed

    def _refs(self, model, codes: set[str], names: list[str]) -> dict[str, tuple]:
        queryset = self._visible(model)
        found: dict[str, tuple] = {}
        for chunk in _chunks(sorted(codes)):
            for code, *values in queryset.filter(code__in=chunk).values_list("code", *names):
                found[code] = tuple(values)
        return found

    def _check_company_and_parent(self) -> None:
        spec = self.spec
        n = self.n
        # the parent: id, its company, and what a unit repeats from its floor
        self.parent_ids: list[int | None] = [None] * n
        parent_company: list[int | None] = [None] * n
        self.unit_parents: list[tuple[int, int] | None] = [None] * n
        if spec.parent:
            name = f"{spec.parent}_code"
            cells = self.raw.get(name)
            extra = ["building_id", "building__site_id"] if spec.model is Unit else []
            parent_model = spec.parent_model
            if cells is None:
                if spec.parent_required:
                    for i in np.flatnonzero(self.is_new):
                        self.errors.add(int(i), name, "required", _("This field is required."))
                for i, code in enumerate(self.codes):  # stored rows keep their parent
                    stored = self.existing.get(code)
                    if stored is not None:
                        self.parent_ids[i] = stored[f"{spec.parent}_id"]
            else:
                refs = self._refs(
                    parent_model, {c for c in cells if c}, ["pk", "company_id", *extra]
                )
                label = parent_model._meta.verbose_name
                for i, code in enumerate(cells):
                    if not code:
                        if spec.parent_required:
                            self.errors.add(i, name, "required", _("This field is required."))
                        continue
                    ref = refs.get(code)
                    if ref is None:
                        message = _("Unknown %(model)s code “%(code)s”.")
                        self.errors.add(
                            i, name, "unknown_parent", message % {"model": label, "code": code}
                        )
                        continue
                    self.parent_ids[i], parent_company[i] = ref[0], ref[1]
                    if extra:
                        self.unit_parents[i] = (ref[2], ref[3])
            if spec.model is Unit and cells is None:
                ids = {p for p in self.parent_ids if p is not None}
                floors = dict(
                    (pk, (b, s))
                    for pk, b, s in Floor.objects.filter(pk__in=ids).values_list(
                        "pk", "building_id", "building__site_id"
                    )
                )
                self.unit_parents = [floors.get(p) if p else None for p in self.parent_ids]

        # the company: the cell, else the import's company, else the parent's (new rows) or
        # the stored one (existing rows)
        cells = self.raw.get("company_code")
        refs = self._refs(Company, {c for c in (cells or []) if c}, ["pk"]) if cells else {}
        default = self.company_default.pk if self.company_default else None
        self.company_ids: list[int | None] = [None] * n
        for i in range(n):
            code = cells[i] if cells else ""
            stored = self.existing.get(self.codes[i])
            if code:
                ref = refs.get(code)
                if ref is None:
                    self.errors.add(
                        i, "company_code", "unknown_company",
                        _("Unknown company code “%(code)s”.") % {"code": code},
                    )  # fmt: skip
                    continue
                company_id = ref[0]
            elif default is not None:
                company_id = default
            elif stored is not None:
                company_id = stored["company_id"]
            elif parent_company[i] is not None:
                company_id = parent_company[i]
            else:
                if not self.errors.bad[i] or spec.parent is None:
                    self.errors.add(i, "company_code", "required", _("This field is required."))
                continue
            self.company_ids[i] = company_id
            self._check_scope(i, company_id, stored)

    def _check_scope(self, i: int, company_id: int, stored: dict | None) -> None:
        if self.user is None:
            return
        label = self.model._meta.verbose_name
        if stored is None:
            if not access.can(self.user, "add", self.model, company_id):
                self.errors.add(
                    i, "company_code", "forbidden",
                    _("You may not add %(model)s records of this company.") % {"model": label},
                )  # fmt: skip
            return
        if not access.can(self.user, "change", self.model, stored["company_id"]):
            self.errors.add(
                i, "code", "forbidden",
                _("The code “%(code)s” belongs to a %(model)s you may not change.")
                % {"code": self.codes[i], "model": label},
            )  # fmt: skip
        elif company_id != stored["company_id"] and not access.can(
            self.user, "change", self.model, company_id
        ):
            self.errors.add(
                i, "company_code", "forbidden",
                _("You may not move %(model)s records to this company.") % {"model": label},
            )  # fmt: skip

    def effective(self, name: str, i: int) -> Any:
        """The value a row will have: from the file, else the stored one, else the default."""
        if name in self.present:
            return self.values[name][i]
        stored = self.existing.get(self.codes[i])
        if stored is not None and name in stored:
            return stored[name]
        return self.values[name][i]

    def _check_rules(self) -> None:
        for rule in _RULES.get(self.model.__name__, ()):
            rule(self)

    # -- writing ----------------------------------------------------------------------------

    def write(self, *, history: bool) -> None:
        meta = self.model._meta
        now = timezone.now()
        started = time.perf_counter()
        # Geometries go to COPY as hex EWKB, converted chunk by chunk while the server
        # stores the previous chunk (see _copy_lines).
        geoms = shapely.set_srid(self.geoms, 4326)
        fields = [f for f in meta.concrete_fields if not f.primary_key and not f.generated]
        parent_attname = meta.get_field(self.spec.parent).attname if self.spec.parent else None

        def column_values(f: models.Field) -> list[Any]:
            """The values of one table column for every row."""
            if f.name == "geom":
                return geoms
            if f.attname == "company_id":
                return self.company_ids
            if f.attname == parent_attname:
                return self.parent_ids
            if self.model is Unit and f.attname in ("building_id", "site_id"):
                k = 0 if f.attname == "building_id" else 1
                return [p[k] if p else None for p in self.unit_parents]
            if f.name in ("created_at", "updated_at"):
                return [now] * self.n
            if f.name == "code":
                return self.codes
            if f.name in self.values:
                return self.values[f.name]
            return [f.get_default()] * self.n

        columns = {f.column: column_values(f) for f in fields}
        self.report.seconds["write prepare"] = round(time.perf_counter() - started, 3)
        new_index = np.flatnonzero(self.is_new)
        old_index = np.flatnonzero(~self.is_new)
        report = self.report
        with connection.cursor() as cursor:
            with _timed(report, "write new rows"):
                new_ids = self._insert(cursor, columns, new_index)
            with _timed(report, "write updates"):
                old_ids = [self.existing[self.codes[i]]["id"] for i in old_index]
                updated = self._update_columns(fields, parent_attname)
                self._update(cursor, {c: columns[c] for c in updated}, old_index, old_ids)
            with _timed(report, "write derived fields"):
                self._derive(cursor, new_ids + old_ids)
            if history:
                with _timed(report, "write history"):
                    self._history(cursor, new_ids, old_ids)

    def _update_columns(self, fields: list[models.Field], parent_attname: str | None) -> list[str]:
        """The columns an update writes: those the file gives, and what follows from them."""
        out = ["company_id", "geom", "updated_at"]
        if parent_attname and f"{self.spec.parent}_code" in self.present:
            out.append(parent_attname)
            if self.model is Unit:
                out += ["building_id", "site_id"]
        out += [f.column for f in fields if f.name in self.present and f.name != "code"]
        return out

    def _insert(self, cursor, columns: dict[str, list], index: np.ndarray) -> list[int]:
        if not len(index):
            return []
        table = self.model._meta.db_table
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [table, len(index)],
        )
        ids = [r[0] for r in cursor.fetchall()]
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, ["id", *columns]))
        )
        _copy(cursor, statement, ids, list(columns.values()), index)
        return ids

    def _update(self, cursor, columns: dict[str, list], index: np.ndarray, ids: list[int]) -> None:
        if not len(index):
            return
        table = self.model._meta.db_table
        names = list(columns)
        idents = sql.SQL(", ").join(map(sql.Identifier, ["id", *names]))
        cursor.execute(
            sql.SQL(
                "CREATE TEMP TABLE transfer_stage ON COMMIT DROP AS SELECT {} FROM {} WITH NO DATA"
            ).format(idents, sql.Identifier(table))
        )
        statement = sql.SQL("COPY transfer_stage ({}) FROM STDIN").format(idents)
        _copy(cursor, statement, ids, list(columns.values()), index)
        assignments = sql.SQL(", ").join(
            sql.SQL("{} = s.{}").format(sql.Identifier(n), sql.Identifier(n)) for n in names
        )
        cursor.execute(
            sql.SQL("UPDATE {} t SET {} FROM transfer_stage s WHERE t.id = s.id").format(
                sql.Identifier(table), assignments
            )
        )
        cursor.execute("DROP TABLE transfer_stage")

    def _derive(self, cursor, ids: list[int]) -> None:
        """Keep the units' derived fields in step with what was written (as the services do
        for one row): outside_floor of imported units, or of the units on imported floors and
        buildings; a building moved to another site takes its units along."""
        if not ids:
            return
        if self.model is Unit:
            units_reflag(cursor, *_ids_condition("u.id", ids))
        elif self.model is Floor:
            units_reflag(cursor, *_ids_condition("u.floor_id", ids))
        elif self.model is Building:
            condition, values = _ids_condition("b.id", ids)
            moved = (
                "UPDATE spatial_unit u SET site_id = b.site_id FROM spatial_building b "  # noqa: S608
                f"WHERE u.building_id = b.id AND {condition} AND u.site_id <> b.site_id"
            )
            cursor.execute(moved, values)
            units_reflag(cursor, *_ids_condition("u.building_id", ids))

    def _history(self, cursor, new_ids: list[int], old_ids: list[int]) -> None:
        """One history row per written row, as simple_history would write on save()."""
        history = self.model.history.model
        columns = [
            f.column
            for f in history._meta.concrete_fields
            if not f.name.startswith("history_") and not f.generated
        ]
        user_id = getattr(self.user, "pk", None)
        reason = f"import {self.report.file}"
        names = sql.SQL(", ").join(map(sql.Identifier, columns))
        for ids, kind in ((new_ids, "+"), (old_ids, "~")):
            if not ids:
                continue
            condition, values = _ids_condition("id", ids)
            statement = sql.SQL(
                "INSERT INTO {} ({}, history_date, history_change_reason, history_type, "
                "history_user_id) SELECT {}, now(), %s, %s, %s FROM {} WHERE {}"
            ).format(
                sql.Identifier(history._meta.db_table), names, names,
                sql.Identifier(self.model._meta.db_table), sql.SQL(condition),
            )  # fmt: skip
            cursor.execute(statement, [reason, kind, user_id, *values])


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_NULL = "\\N"
COPY_CHUNK = 5_000


def _copy_texts(values: list) -> list[str]:
    """One column in COPY's text format, converted by the type of its values."""
    sample = next((v for v in values if v is not None), None)
    if sample is None:
        return [_NULL] * len(values)
    if len(values) > 1 and all(v is sample for v in values):  # one value for all (now, …)
        return _copy_texts([sample]) * len(values)
    if isinstance(sample, str):
        joined = "".join(v for v in values if v is not None)
        if any(c in joined for c in "\\\t\n\r"):
            return [_NULL if v is None else v.translate(_COPY_ESCAPES) for v in values]
        return [_NULL if v is None else v for v in values]
    if isinstance(sample, bool):
        return [_NULL if v is None else ("t" if v else "f") for v in values]
    if isinstance(sample, date):  # dates and aware date-times
        return [_NULL if v is None else v.isoformat() for v in values]
    return [_NULL if v is None else str(v) for v in values]


def _copy_lines(ids: list[int], columns: list, index: np.ndarray) -> Iterator[str]:
    """COPY text rows of the rows `index`, with these ids, a chunk at a time (each built
    while the writer thread sends the previous one): psycopg's write_row converts value by
    value; converting columns whole and joining them is several times faster. A column
    given as an array of shapely geometries is written as hex EWKB."""
    picked = index.tolist()
    for start in range(0, len(picked), COPY_CHUNK):
        rows = picked[start : start + COPY_CHUNK]
        part = [[str(pk) for pk in ids[start : start + COPY_CHUNK]]]
        for values in columns:
            if isinstance(values, np.ndarray):
                hexes = shapely.to_wkb(values[rows], hex=True, include_srid=True).tolist()
                part.append([_NULL if h is None else h for h in hexes])
            else:
                part.append(_copy_texts([values[i] for i in rows]))
        yield "".join("\t".join(row) + "\n" for row in zip(*part, strict=True))


def _copy(cursor, statement, ids: list[int], columns: list[list], index: np.ndarray) -> None:
    # A writer thread sends the blocks, so the next block is built while the server stores
    # the previous one.
    raw = getattr(cursor, "cursor", cursor)  # Django's wrapper → the psycopg cursor
    with raw.copy(statement, writer=QueuedLibpqWriter(raw)) as copy:
        for block in _copy_lines(ids, columns, index):
            copy.write(block)


def _ids_condition(column: str, ids: list[int]) -> tuple[str, list]:
    """`column` among `ids`: a range when they are consecutive (ids reserved for new rows),
    else an array sent as one literal (fast to bind, whatever its length)."""
    if ids and max(ids) - min(ids) + 1 == len(ids):
        return f"{column} BETWEEN %s AND %s", [min(ids), max(ids)]
    return f"{column} = ANY(%s::bigint[])", ["{" + ",".join(map(str, ids)) + "}"]


def units_reflag(cursor, where: str, params: list) -> int:
    """Recompute `outside_floor` of the units matching `where` (alias u), as
    spatial.services.floor_units_reflag does for one floor: NOT ST_Covers(the floor outline,
    or the building footprint, buffered by OUTLINE_TOLERANCE_DEG, the unit). A unit covered by
    the outline itself is covered by its buffer too, so the buffer is computed only for the
    others; the flags are read by one (parallel) query and only those that change are written,
    with one UPDATE."""
    cursor.execute(
        f"""
        SELECT u.id FROM spatial_unit u
          JOIN spatial_floor f ON f.id = u.floor_id
          JOIN spatial_building b ON b.id = f.building_id
         WHERE {where}
           AND u.outside_floor IS DISTINCT FROM NOT (
                   ST_Covers(COALESCE(f.geom, b.geom), u.geom)
                   OR ST_Covers(ST_Buffer(COALESCE(f.geom, b.geom), %s), u.geom))
        """,  # noqa: S608 - `where` is built from fixed conditions, its values are parameters
        [*params, OUTLINE_TOLERANCE_DEG],
    )
    flip = [row[0] for row in cursor.fetchall()]
    if not flip:
        return 0
    condition, values = _ids_condition("id", flip)
    cursor.execute(
        f"UPDATE spatial_unit SET outside_floor = NOT outside_floor WHERE {condition}",  # noqa: S608
        values,
    )
    return cursor.rowcount


# -- geometry -----------------------------------------------------------------------------------

_TYPE_IDS = {"Point": 0, "LineString": 1, "Polygon": 3, "MultiPolygon": 6}


def _adapt(geoms: np.ndarray, geom_type: str) -> np.ndarray:
    """What the column holds from what files hold: a Polygon promoted to a MultiPolygon (as
    the services do), a single-part MultiPolygon or MultiLineString taken as its one part."""
    geoms = np.array(geoms, dtype=object)
    types = shapely.get_type_id(geoms)
    if geom_type == "MultiPolygon":
        single = types == 3
        if single.any():
            geoms[single] = [shapely.MultiPolygon([g]) for g in geoms[single]]
    elif geom_type in ("Polygon", "LineString"):
        multi = types == (6 if geom_type == "Polygon" else 5)
        if multi.any():
            one = multi.copy()
            one[multi] = shapely.get_num_geometries(geoms[multi]) == 1
            if one.any():
                geoms[one] = shapely.get_geometry(geoms[one], 0)
    return geoms


def _error_code(exc: ValidationError, default: str) -> str:
    """The code of a (possibly list-shaped) ValidationError's first error."""
    first = exc.error_list[0] if hasattr(exc, "error_list") else exc
    return getattr(first, "code", None) or default


def _geometry_reason(model, geom) -> tuple[str, str]:
    """The code and message the API gives for this geometry: the column's validators
    (GeometryValidator) run on it as spatial.services.coerce_geometry runs them, after the
    same promotion to the column's type; shapely's reason should the GEOS builds disagree."""
    geos = GEOSGeometry(memoryview(shapely.to_wkb(geom)), srid=4326)
    try:
        for validator in model._meta.get_field("geom").validators:
            validator(geos)
    except ValidationError as exc:
        return _error_code(exc, "invalid_geometry"), exc.messages[0]
    return "invalid_geometry", _("The geometry is invalid: %(reason)s") % {
        "reason": shapely.is_valid_reason(geom)
    }


# -- attribute parsers ---------------------------------------------------------------------------


def _invalid(model_field: models.Field, key: str, value: str, code: str = "invalid"):
    return ValidationError(model_field.error_messages[key] % {"value": value}, code=code)


def _parse_text(column: Column, cell: str) -> str:
    max_length = column.model_field.max_length
    if max_length and len(cell) > max_length:
        raise ValidationError(
            _("Ensure this value has at most %(limit)s characters (it has %(count)s).")
            % {"limit": max_length, "count": len(cell)},
            code="max_length",
        )
    return cell


def _parse_choice(column: Column, cell: str) -> str:
    value = column.choices.get(cell.lower())
    if value is None and cell.isdigit():  # "5" for the land use class "05"
        value = column.choices.get(cell.zfill(2))
    if value is None:
        raise ValidationError(
            column.model_field.error_messages["invalid_choice"] % {"value": cell},
            code="invalid_choice",
        )
    return value


@lru_cache(maxsize=32)
def _decimal_bounds(max_digits: int, decimal_places: int) -> tuple[Decimal, Decimal]:
    """The step of the column (0.01) and the first value with too many digits (1e10)."""
    return Decimal(1).scaleb(-decimal_places), Decimal(10) ** (max_digits - decimal_places)


def _parse_decimal(column: Column, cell: str) -> Decimal:
    model_field = column.model_field
    try:
        value = Decimal(cell.replace(",", "").replace("，", ""))
    except InvalidOperation:
        raise _invalid(model_field, "invalid", cell) from None
    if not value.is_finite():
        raise _invalid(model_field, "invalid", cell)
    step, limit = _decimal_bounds(model_field.max_digits, model_field.decimal_places)
    if abs(value) < limit:
        # Files carry binary floats (81.50000000001): round to the column's places, half up.
        value = value.quantize(step, ROUND_HALF_UP)
    if abs(value) >= limit:  # too many digits: the field's own validator says so
        model_field.run_validators(value)
    return value


def _parse_stake(column: Column, cell: str) -> Decimal:
    """A stake column takes metres (1234.5) or a stake label ("K1+234.5")."""
    match = STAKE_RE.match(cell.replace(" ", ""))
    if match:
        cell = str(int(match.group(1)) * 1000 + Decimal(match.group(2)))
    return _parse_decimal(column, cell)


def _parse_int(column: Column, cell: str) -> int:
    model_field = column.model_field
    try:
        number = Decimal(cell.replace(",", ""))
        if not number.is_finite() or number != number.to_integral_value():
            raise InvalidOperation
        value = int(number)
    except InvalidOperation:
        raise _invalid(model_field, "invalid", cell) from None
    model_field.run_validators(value)
    return value


_DATE_SEPARATORS = re.compile(r"[/.年月]")


def _parse_date(column: Column, cell: str) -> date:
    text = cell.split(" ")[0].split("T")[0].rstrip("日")
    text = _DATE_SEPARATORS.sub("-", text)
    try:
        parts = [int(p) for p in text.split("-")]
        if len(parts) != 3:
            raise ValueError
        return date(*parts)
    except ValueError:
        raise _invalid(column.model_field, "invalid", cell) from None


_PARSERS = {
    "text": _parse_text,
    "choice": _parse_choice,
    "decimal": _parse_decimal,
    "stake": _parse_stake,
    "int": _parse_int,
    "date": _parse_date,
}


# -- the models' own rules ----------------------------------------------------------------------


def _positive(*names: str):
    def rule(job: _Import) -> None:
        for name in names:
            if name not in job.present:
                continue
            for i, value in enumerate(job.values[name]):
                if value is not None and value <= 0:
                    job.errors.add(
                        i, name, "not_positive", _("Ensure this value is greater than 0.")
                    )

    return rule


def _unit_areas(job: _Import) -> None:
    if not {"gross_area", "usable_area"} & job.present:
        return
    for i in range(job.n):
        gross, usable = job.effective("gross_area", i), job.effective("usable_area", i)
        if gross and usable and gross > 0 and usable > gross:
            job.errors.add(
                i, "usable_area", "usable_above_gross",
                _("The usable area cannot exceed the gross floor area."),
            )  # fmt: skip


def _road_stakes(job: _Import) -> None:
    if not {"start_stake_m", "end_stake_m"} & job.present:
        return
    for i in range(job.n):
        start, end = job.effective("start_stake_m", i), job.effective("end_stake_m", i)
        if start is not None and start < 0:
            job.errors.add(i, "start_stake_m", "negative", _("A stake cannot be negative."))
        elif start is not None and end is not None and end <= start:
            job.errors.add(
                i, "end_stake_m", "stakes_not_increasing",
                _("The end stake must be beyond the start stake."),
            )  # fmt: skip


def _building_year(job: _Import) -> None:
    if "year_built" not in job.present:
        return
    for i, year in enumerate(job.values["year_built"]):
        if year is not None and not 1800 <= year <= 2100:
            job.errors.add(i, "year_built", "out_of_range", _("Give a year between 1800 and 2100."))


def _floor_levels(job: _Import) -> None:
    """Level 0 does not exist (1 is the ground floor, -1 the first basement), and a building
    has one floor per level: within the file and against the floors already stored."""
    if "level" not in job.present and f"{job.spec.parent}_code" not in job.present:
        return
    taken: dict[tuple[int, int], int] = {}
    buildings = {b for b in job.parent_ids if b is not None}
    stored: dict[tuple[int, int], str] = {}
    for chunk in _chunks(sorted(buildings)):
        for building, level, code in Floor.objects.filter(building_id__in=chunk).values_list(
            "building_id", "level", "code"
        ):
            stored[(building, level)] = code
    in_file = set(job.codes)
    for i in range(job.n):
        level, building = job.effective("level", i), job.parent_ids[i]
        if level == 0:
            job.errors.add(i, "level", "level_zero", _("There is no level 0: 1 is the ground "
                                                      "floor, -1 the first basement."))  # fmt: skip
            continue
        if level is None or building is None:
            continue
        key = (building, level)
        if key in taken:
            job.errors.add(
                i, "level", "duplicate_level",
                _("The building already has a floor at level %(level)s (row %(row)s).")
                % {"level": level, "row": int(job.source.rows[taken[key]])},
            )  # fmt: skip
            continue
        taken[key] = i
        other = stored.get(key)
        if other is not None and other != job.codes[i] and other not in in_file:
            job.errors.add(
                i, "level", "duplicate_level",
                _("The building already has a floor at level %(level)s (%(code)s).")
                % {"level": level, "code": other},
            )  # fmt: skip


_RULES = {
    "Unit": (_positive("gross_area", "usable_area"), _unit_areas),
    "Building": (_positive("height_m", "gross_area"), _building_year),
    "Floor": (_floor_levels,),
    "Road": (_road_stakes,),
    "Parcel": (_positive("official_area"),),
}


def format_error(error: RowError) -> str:
    """One line of a report for people: "row 3 (line 4), gross_area: reason"."""
    where = f"row {error.row}" + (f" (line {error.line})" if error.line else "")
    column = f" [{error.column}]" if error.column else ""
    return f"{where}, {error.field}{column}: {error.message}"
