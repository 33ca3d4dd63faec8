"""Import of a layer another app registered (spatial.transfer.layers.RegisteredLayer).

Such rows are few (assets: thousands, not a hundred thousand units) and belong to another
app's rules (asset codes issued by coding rules, locations completed up the spatial graph),
so they are written one by one through that app's services rather than by the bulk COPY
path of the spatial graph's layers. What stays the same: the file reading, the column
mapping, the geometry checks and the report; every row is checked, each error names the row
and the column; one transaction, rolled back when any row is wrong or for a dry run (a dry
run runs the services, so it checks everything they check, and writes nothing).
"""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import numpy as np
import shapely
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from spatial.models import Company
from spatial.transfer.crs import to_wgs84
from spatial.transfer.importer import (
    _PARSERS,
    _TYPE_IDS,
    ImportReport,
    _adapt,
    _choose_crs,
    _error_code,
    _Errors,
    _parse_given_crs,
    _text,
    _timed,
    import_region,
)
from spatial.transfer.layers import RegisteredLayer, normalise_header
from spatial.transfer.sources import TransferError, read_source
from spatial.validators import CODE_RE, validate_code


def registered_import(
    spec: RegisteredLayer,
    *,
    path: Path,
    crs: str | None,
    company: str | None,
    user,
    dry_run: bool,
    defaults: dict[str, str] | None,
    region,
    source_layer: str | None,
    file_name: str | None,
    today: date | None = None,
) -> ImportReport:
    started = time.perf_counter()
    given_crs = _parse_given_crs(crs)
    path = Path(path)
    report = ImportReport(layer=spec.name, file=file_name or path.name, dry_run=dry_run)
    with _timed(report, "read"):
        source = read_source(path, layer_name=spec.name, source_layer=source_layer)
    report.format, report.source_layer = source.format, source.source_layer
    report.rows = n = len(source.frame)
    report.warnings.extend(source.warnings)
    report.crs, report.crs_source, source_crs = _choose_crs(source, given_crs)
    company_default = _company(company, user, spec)

    # columns
    lookup = spec.lookup()
    mapped: dict[str, str] = {}
    for header in source.frame.columns:
        column = lookup.get(normalise_header(header))
        if column is None:
            if normalise_header(header) not in {normalise_header(e) for e in spec.export_extra}:
                report.ignored_columns.append(str(header))
        elif column.name not in mapped:
            mapped[column.name] = str(header)
    report.columns = mapped
    errors = _Errors(report, source, mapped)
    cells = {name: [_text(v) for v in source.frame[header].tolist()]
             for name, header in mapped.items()}  # fmt: skip
    for key, value in (defaults or {}).items():
        column = lookup.get(normalise_header(key))
        if column is None:
            raise TransferError(
                f"{key!r} is not a column of {spec.name}; columns: "
                f"{', '.join(c.name for c in spec.columns)}.",
                "set",
            )
        present = cells.setdefault(column.name, [""] * n)
        cells[column.name] = [c or str(value).strip() for c in present]

    with _timed(report, "check"):
        values = _parse(spec, cells, errors, n)
        geoms = _geometry(spec, source, source_crs, errors, region or import_region())

    today = today or timezone.localdate()
    try:
        with transaction.atomic():
            with _timed(report, "write"):
                for i in range(n):
                    if errors.bad[i]:
                        continue
                    row = {name: column_values[i] for name, column_values in values.items()}
                    try:
                        with transaction.atomic():
                            kind = spec.row_write(
                                row, geoms[i], user=user, company=company_default, today=today
                            )
                    except ValidationError as exc:
                        for field_name, messages in _by_field(exc).items():
                            column = spec.column_of(field_name)
                            for message in messages:
                                errors.add(i, column, _error_code(exc, "invalid"), message)
                        continue
                    if kind == "create":
                        report.create += 1
                    else:
                        report.update += 1
            errors.sort()
            if dry_run or not report.ok:
                transaction.set_rollback(True)
            else:
                report.committed = True
    except IntegrityError as exc:
        report.committed = False
        raise TransferError.conflict(exc) from exc
    report.seconds["total"] = round(time.perf_counter() - started, 3)
    return report


def _company(code: str | None, user, spec: RegisteredLayer) -> Company | None:
    if not code:
        return None
    companies = Company.objects.all() if user is None else Company.objects.restrict(user, "view")
    found = companies.filter(code=code).first()
    if found is None:
        raise TransferError(f"Unknown company {code!r}.", "company")
    return found


def _parse(spec: RegisteredLayer, cells: dict[str, list[str]], errors: _Errors, n: int) -> dict:
    """Every column's values, parsed; references stay codes. Errors per row and column."""
    values: dict[str, list] = {}
    seen: dict[str, int] = {}
    for column in spec.columns:
        raw = cells.get(column.name)
        if raw is None:
            continue
        parsed: list = [None] * n
        for i, cell in enumerate(raw):
            if cell == "":
                if column.required:
                    errors.add(i, column.name, "required", _("This field cannot be blank."))
                continue
            if column.kind == "code":
                if len(cell) > 64 or not CODE_RE.match(cell):
                    try:
                        validate_code(cell)
                    except ValidationError as exc:
                        errors.add(i, "code", "invalid_code", exc.messages[0])
                        continue
                if cell in seen:
                    errors.add(
                        i, "code", "duplicate_code",
                        _("Duplicate code “%(code)s”: also on row %(row)s.")
                        % {"code": cell, "row": int(errors.rows[seen[cell]])},
                    )  # fmt: skip
                    continue
                seen[cell] = i
                parsed[i] = cell
            elif column.kind == "ref":
                parsed[i] = cell
            else:
                try:
                    parsed[i] = _PARSERS[column.kind](column, cell)
                except ValidationError as exc:
                    errors.add(i, column.name, _error_code(exc, "invalid"), exc.messages[0])
        values[column.name] = parsed
    for column in spec.columns:  # required columns the file lacks altogether
        if column.required and column.name not in cells:
            for i in range(n):
                errors.add(i, column.name, "required", _("This field is required."))
    return values


def _geometry(spec, source, source_crs, errors: _Errors, region) -> np.ndarray:
    """EPSG:4326 geometries; a row may have none (the service places it by its location)."""
    geoms = np.asarray(source.geoms, dtype=object).copy()
    for i, message in source.geom_errors.items():
        errors.add(i, "geom", "invalid_geometry", message)
    geoms = _adapt(to_wgs84(geoms, source_crs), spec.geom_type)
    present = ~shapely.is_missing(geoms)
    xmin, ymin, xmax, ymax = region
    for i in np.flatnonzero(present):
        geom = geoms[i]
        if shapely.get_type_id(geom) != _TYPE_IDS[spec.geom_type] or geom.is_empty:
            errors.add(
                int(i), "geom", "wrong_geometry_type",
                _("Expected a %(type)s, got %(got)s.") % {"type": spec.geom_type,
                                                          "got": geom.geom_type},
            )  # fmt: skip
            continue
        x0, y0, x1, y1 = shapely.bounds(geom)
        if not (np.isfinite([x0, y0, x1, y1]).all() and shapely.is_valid(geom)):
            errors.add(int(i), "geom", "invalid_geometry", _("The geometry is invalid."))
        elif not (x0 >= xmin and x1 <= xmax and y0 >= ymin and y1 <= ymax):
            errors.add(
                int(i), "geom", "outside_region",
                _("Coordinates are outside the expected region after transformation to "
                  "EPSG:4326: %(extent)s. Is the coordinate system (%(crs)s) right?")
                % {"extent": f"{x0:.6f},{y0:.6f}", "crs": source_crs},
            )  # fmt: skip
    geoms[~present] = None
    return geoms


def _by_field(exc: ValidationError) -> dict[str, list[str]]:
    if hasattr(exc, "error_dict"):
        return {name: [str(m) for m in ValidationError(errs).messages]
                for name, errs in exc.error_dict.items()}  # fmt: skip
    return {"__all__": exc.messages}
