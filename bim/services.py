"""Writes of the BIM import: submitting import jobs, claiming and running them, and the
import itself (`model_import`): read the file, choose how to place it, write it.

The model is read and its geometry computed before any write; the writes (bim.writer) then
run in one transaction, so a bad file or a failed check leaves the database as it was. The
job row records the outcome either way.
"""

import functools
import gc
import hashlib
import logging
import math
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from pyproj import CRS
from pyproj.exceptions import CRSError

from bim import choices
from bim.ifc import georef
from bim.ifc.reader import IfcFileError, ModelData, check_stream, read_model
from bim.models import IfcImport
from bim.writer import Writer, messages
from portfolio.models import Asset
from spatial import access
from spatial.models import Company, Site, Unit
from spatial.validators import validate_code

log = logging.getLogger(__name__)

#: Upload limit for IFC files (bytes).
IFC_MAX_BYTES = getattr(settings, "BIM_IMPORT_MAX_BYTES", 512 * 1024 * 1024)


# -- options ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportOptions:
    anchor: tuple[float, float] | None = None  # (lon, lat)
    rotation_deg: float = 0.0
    crs: str = ""
    placement: str = choices.Placement.AUTO
    building_code: str = ""

    @classmethod
    def of(cls, job: IfcImport) -> "ImportOptions":
        anchor = None
        if job.anchor_lon is not None and job.anchor_lat is not None:
            anchor = (job.anchor_lon, job.anchor_lat)
        return cls(
            anchor=anchor,
            rotation_deg=job.rotation_deg or 0.0,
            crs=job.crs,
            placement=job.placement,
            building_code=job.building_code,
        )


def _check_options(
    *, anchor: tuple[float, float] | None, rotation_deg: float, crs: str, placement: str
) -> None:
    errors: dict[str, list[str]] = {}
    if anchor is not None:
        lon, lat = anchor
        if not (-180 <= lon <= 180 and -90 <= lat <= 90) or (lon, lat) == (0, 0):
            errors["anchor"] = [_("Give the anchor as longitude -180..180, latitude -90..90.")]
    if not math.isfinite(rotation_deg) or not -360 <= rotation_deg <= 360:
        errors["rotation"] = [_("The rotation is an angle in degrees, -360..360.")]
    if placement not in choices.Placement.values:
        errors["placement"] = [
            _("Use one of: %(choices)s.") % {"choices": ", ".join(choices.Placement.values)}
        ]
    if placement == choices.Placement.ANCHOR and anchor is None:
        errors.setdefault("anchor", []).append(_("Placement 'anchor' needs an anchor point."))
    if crs:
        try:
            projected = CRS.from_user_input(crs).is_projected
        except CRSError as exc:
            errors["crs"] = [_("Unknown coordinate reference system: %(error)s") % {"error": exc}]
        else:
            if not projected:
                errors["crs"] = [
                    _("%(crs)s is not a projected coordinate reference system.") % {"crs": crs}
                ]
    if errors:
        raise ValidationError(errors)


# -- jobs ------------------------------------------------------------------------------------


def ensure_may_import(user, site: Site) -> None:
    """An import adds, changes and deletes spatial rows and assets of the site's company."""
    for model, actions in ((IfcImport, ("add",)), (Unit, ("add", "change", "delete"))):
        for action in actions:
            access.ensure_can(user, action, model, site.company_id)
    access.ensure_can(user, "add", Asset, site.company_id)


def _digest(handle) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    handle.seek(0)
    for chunk in iter(lambda: handle.read(1024 * 1024), b""):
        digest.update(chunk)
        size += len(chunk)
    handle.seek(0)
    return digest.hexdigest(), size


class _Digesting(File):
    """The upload as the storage reads it (`chunks`), hashed on the way: the file is read
    once, not once to hash and once to store."""

    def __init__(self, upload: File):
        super().__init__(upload, upload.name)
        self.digest = hashlib.sha256()
        self.read_size = 0

    def chunks(self, chunk_size=None):
        for chunk in super().chunks(chunk_size):
            self.digest.update(chunk)
            self.read_size += len(chunk)
            yield chunk


def _store(job: IfcImport, name: str, upload: File) -> None:
    """Save the upload as the job's file and record its size and SHA-256. An upload already
    on disk (a large one, which Django spools to a temporary file) is moved, not copied, and
    hashed on its own; so is one the storage did not read through `chunks` (all of it)."""
    if hasattr(upload, "temporary_file_path"):
        job.sha256, job.size = _digest(upload)
        job.file.save(name, upload, save=False)
        return
    digesting = _Digesting(upload)
    job.file.save(name, digesting, save=False)
    size = upload.size
    if size is not None and digesting.read_size == size:
        job.sha256, job.size = digesting.digest.hexdigest(), size
    else:
        job.sha256, job.size = _digest(upload)


def ifc_import_create(
    *,
    site: Site,
    upload: File,
    user=None,
    anchor: tuple[float, float] | None = None,
    rotation_deg: float = 0.0,
    crs: str = "",
    placement: str = choices.Placement.AUTO,
    building_code: str = "",
) -> IfcImport:
    """Store the file and queue an import of it into `site`. The file is checked (an IFC-SPF
    file of a supported schema, complete) before anything is stored; `user` None is the
    system (the management command).

    The one write is the job's INSERT, atomic by itself (no transaction round trips around
    it); a stored file whose row could not be written is deleted again."""
    if user is not None:
        ensure_may_import(user, site)
    _check_options(anchor=anchor, rotation_deg=rotation_deg, crs=crs, placement=placement)
    if building_code:
        try:
            validate_code(building_code)
        except ValidationError as exc:
            raise ValidationError({"building_code": exc.messages}) from exc
    size = upload.size or 0
    if size > IFC_MAX_BYTES:
        raise ValidationError(
            {
                "file": [
                    _("The file is %(size)d bytes; the limit is %(limit)d bytes.")
                    % {"size": size, "limit": IFC_MAX_BYTES}
                ]
            }
        )
    try:
        check_stream(upload, size)
    except IfcFileError as exc:
        raise ValidationError({"file": [str(exc)]}) from exc
    name = Path(upload.name or "model.ifc").name
    job = IfcImport(
        company_id=site.company_id,
        site=site,
        original_name=name[:255],
        anchor_lon=anchor[0] if anchor else None,
        anchor_lat=anchor[1] if anchor else None,
        rotation_deg=rotation_deg,
        crs=crs,
        placement=placement,
        building_code=building_code,
        created_by=user,
    )
    # The relations are the site's and the user's own; the constraints were checked above;
    # the size and the digest are the file's, known once it is stored.
    job.clean_fields(
        exclude=["file", "company", "site", "building", "created_by", "size", "sha256"]
    )
    _store(job, name, upload)
    try:
        job.save()
    except (IntegrityError, OSError):
        job.file.delete(save=False)
        raise
    return job


def ifc_import_submit(**kwargs: Any) -> IfcImport:
    """Queue an import and, once the upload is committed, start it (bim.tasks decides where:
    a thread of this process, or a `run_ifc_worker` process)."""
    from bim import tasks

    job = ifc_import_create(**kwargs)
    transaction.on_commit(lambda: tasks.import_kick(job.pk))
    return job


def ifc_import_claim(*, job_id: int | None = None, now=None) -> IfcImport | None:
    """Take one queued job (the oldest, or `job_id`) for this process: row-locked with
    SKIP LOCKED so that concurrent workers never take the same one.

    One statement (UPDATE … WHERE id = (SELECT … FOR UPDATE SKIP LOCKED) RETURNING): the
    lock and the change are atomic by themselves, without a transaction round trip."""
    now = now or timezone.now()
    meta = IfcImport._meta
    table = connection.ops.quote_name(meta.db_table)
    only = "AND id = %s" if job_id is not None else ""
    params: list[Any] = [choices.ImportStatus.RUNNING, now, now, choices.ImportStatus.QUEUED]
    if job_id is not None:
        params.append(job_id)
    claimed = list(
        IfcImport.objects.raw(
            f"UPDATE {table} SET status = %s, started_at = %s, heartbeat_at = %s, "  # noqa: S608
            "attempts = attempts + 1, progress = 0 "
            f"WHERE id = (SELECT id FROM {table} WHERE status = %s {only} "
            "ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING *",
            params,
        )
    )
    return claimed[0] if claimed else None


def ifc_imports_requeue_stale(*, older_than: timedelta, now=None, max_attempts: int = 3) -> int:
    """Jobs whose runner died (no sign of life for `older_than`) go back to the queue, or
    fail after `max_attempts`. Returns how many were touched."""
    now = now or timezone.now()
    touched = 0
    with transaction.atomic():
        stale = IfcImport.objects.select_for_update(skip_locked=True).filter(
            status=choices.ImportStatus.RUNNING, heartbeat_at__lt=now - older_than
        )
        for job in stale:
            if job.attempts >= max_attempts:
                job.status = choices.ImportStatus.FAILED
                job.message = _("The import stopped answering %(n)d times; gave up.") % {
                    "n": job.attempts
                }
                job.finished_at = now
            else:
                job.status = choices.ImportStatus.QUEUED
                job.message = _("The runner stopped answering; queued again.")
            job.save(update_fields=["status", "message", "finished_at"])
            touched += 1
    return touched


class _Progress:
    """Writes the job's progress now and then: at most twice a second, the first half a
    second after the claim (which wrote progress 0 and a heartbeat), so a small model is
    done before it writes any (the end is `_finish`'s, with the outcome)."""

    def __init__(self, job: IfcImport | None):
        self.job = job
        self.last_at = time.monotonic()

    def __call__(self, pct: int, message: str) -> None:
        if self.job is None or pct >= 100:
            return
        now = time.monotonic()
        if now - self.last_at < 0.5:
            return
        self.last_at = now
        IfcImport.objects.filter(pk=self.job.pk).update(
            progress=min(100, max(0, pct)), message=message[:500], heartbeat_at=timezone.now()
        )


def ifc_import_run(job: IfcImport, *, today: date | None = None) -> IfcImport:
    """Run a claimed job to the end: succeeded with its report, or failed with the reason.
    The database writes are all or nothing; the job row records the outcome either way."""
    today = today or timezone.localdate()
    progress = _Progress(job)
    try:
        path = Path(job.file.path)
        report = model_import(
            path=path,
            site=Site(pk=job.site_id),  # model_import reads it, locked; the id is enough
            options=ImportOptions.of(job),
            user=job.created_by,
            job=job,
            today=today,
            on_progress=progress,
            file_name=job.original_name,
        )
    except ValidationError as exc:
        return _finish(job, ok=False, message=messages(exc))
    except (IfcFileError, georef.GeorefError) as exc:
        return _finish(job, ok=False, message=str(exc))
    except (IntegrityError, DatabaseError) as exc:
        return _finish(
            job, ok=False, message=_("The database refused the import: %(error)s") % {"error": exc}
        )
    return _finish(job, ok=True, message=_summary(report), report=report)


def _finish(job: IfcImport, *, ok: bool, message: str, report: dict | None = None) -> IfcImport:
    job.status = choices.ImportStatus.SUCCEEDED if ok else choices.ImportStatus.FAILED
    job.progress = 100
    job.message = message
    job.finished_at = job.heartbeat_at = timezone.now()
    if report is not None:
        job.report = report
        job.building_id = report.get("building", {}).get("id")
    elif not ok:
        job.report = {"error": message}
    # What job.save(update_fields=[…]) writes, from a statement built once (the ORM's
    # compiling of the update takes longer than the database's running it).
    statement, fields = _finish_statement()
    params = [f.get_db_prep_save(getattr(job, f.attname), connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(statement, [*params, job.pk])
    return job


_FINISHED = ("status", "progress", "message", "finished_at", "heartbeat_at", "report", "building")


@functools.cache
def _finish_statement() -> tuple[str, list]:
    meta = IfcImport._meta
    quote = connection.ops.quote_name
    fields = [meta.get_field(name) for name in _FINISHED]
    columns = ", ".join(f"{quote(f.column)} = %s" for f in fields)
    table, pk = quote(meta.db_table), quote(meta.pk.column)
    statement = f"UPDATE {table} SET {columns} WHERE {pk} = %s"  # noqa: S608 - the model's names
    return statement, fields


def _summary(report: dict) -> str:
    counts = report.get("counts", {})
    kinds = {"floors": _("floors"), "units": _("units"), "assets": _("assets")}
    parts = []
    for kind, label in kinds.items():
        c = counts.get(kind, {})
        parts.append(
            _("%(kind)s: %(added)d added, %(changed)d changed, %(removed)d removed, %(kept)d kept")
            % {
                "kind": label,
                "added": c.get("added", 0),
                "changed": c.get("changed", 0),
                "removed": c.get("removed", 0),
                "kept": c.get("kept", 0),
            }
        )
    return "; ".join(parts)


# -- the import ------------------------------------------------------------------------------


def model_import(
    *,
    path: Path,
    site: Site,
    options: ImportOptions = ImportOptions(),
    user=None,
    job: IfcImport | None = None,
    today: date,
    on_progress=None,
    file_name: str = "",
) -> dict:
    """Read `path` and write its building(s) into `site`; return the report.

    Raises IfcFileError for a file that cannot be imported and ValidationError (naming the
    option at fault: anchor, crs, site, …) for what the user can fix; nothing is written then.
    """
    with _old_objects_frozen():
        return _model_import(
            path=path,
            site=site,
            options=options,
            user=user,
            job=job,
            today=today,
            on_progress=on_progress,
            file_name=file_name,
        )


@contextmanager
def _old_objects_frozen():
    """Keep the objects that exist before the import out of the garbage collector's sight
    while it runs (gc.freeze), and give them back after.

    An import makes tens of thousands of short-lived objects (IfcOpenShell's entity
    wrappers, geometries, model instances); they make CPython run full collections, and a
    full collection traverses every object of the process — Django's, the IFC schema's, the
    web process's — which took longer than all the database work of a 4 MB model. The
    import's own garbage is still collected by the young generations."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _model_import(
    *, path: Path, site: Site, options: ImportOptions, user, job, today, on_progress, file_name
) -> dict:
    started = time.perf_counter()
    progress = on_progress or (lambda pct, msg: None)
    model = read_model(path, on_progress=progress)
    read_seconds = time.perf_counter() - started
    progress(75, "writing floors, units and assets")
    with transaction.atomic():
        site = _site_locked(site.pk)
        writer = Writer(
            site=site,
            model=model,
            frame_for=lambda previous: choose_frame(model, options, previous),
            options=options,
            user=user,
            job=job,
            today=today,
        )
        for building in model.buildings:
            writer.write_building(building)
        report = writer.report(file_name=file_name or path.name)
    report["timings"] = {
        **{k: round(v, 3) for k, v in model.timings.items()},
        "read": round(read_seconds, 3),
        "write": round(time.perf_counter() - started - read_seconds, 3),
        "total": round(time.perf_counter() - started, 3),
    }
    progress(100, "done")
    return report


def _site_locked(pk: int) -> Site:
    """The site, row-locked until the import commits, with its company (asset codes and
    coding rules need it) but without its outline (a surveyed boundary can be large): what
    `Site.objects.select_for_update(of=("self",)).select_related("company").defer("geom")
    .get(pk=pk)` reads, from a statement built once (compiling that queryset takes longer
    than running it)."""
    statement, site_fields, company_fields = _site_lock_statement()
    with connection.cursor() as cursor:
        cursor.execute(statement, [pk])
        row = cursor.fetchone()
    if row is None:
        raise ValidationError({"site": [_("The site of this import no longer exists.")]})
    n = len(site_fields)
    site = Site.from_db(connection.alias, site_fields, row[:n])
    company = Company.from_db(connection.alias, company_fields, row[n:])
    Site._meta.get_field("company").set_cached_value(site, company)
    return site


@functools.cache
def _site_lock_statement() -> tuple[str, list[str], list[str]]:
    quote = connection.ops.quote_name
    site_fields = [f for f in Site._meta.concrete_fields if f.name != "geom"]
    company_fields = list(Company._meta.concrete_fields)
    columns = [f"s.{quote(f.column)}" for f in site_fields]
    columns += [f"c.{quote(f.column)}" for f in company_fields]
    statement = (
        f"SELECT {', '.join(columns)} FROM {quote(Site._meta.db_table)} AS s "  # noqa: S608
        f"JOIN {quote(Company._meta.db_table)} AS c ON c.{quote(Company._meta.pk.column)} = "
        f"s.{quote(Site._meta.get_field('company').column)} "
        f"WHERE s.{quote(Site._meta.pk.column)} = %s FOR UPDATE OF s"
    )
    return statement, [f.attname for f in site_fields], [f.attname for f in company_fields]


def choose_frame(
    model: ModelData, options: ImportOptions, previous: georef.Frame | None
) -> tuple[georef.Frame, str, list[str]]:
    """(frame, method, warnings): IfcMapConversion, else the IfcSite reference point, else
    the anchor given, else the previous import's placement; raises ValidationError (on
    `anchor`) when none applies. Placement "anchor" puts the anchor first."""
    warnings: list[str] = []
    anchor = options.anchor
    if options.placement == choices.Placement.ANCHOR and anchor is not None:
        if model.map_conversion or _has_reference(model):
            warnings.append(_("The file's own georeferencing was overridden by the anchor given."))
        frame = georef.frame_from_anchor(
            lon=anchor[0], lat=anchor[1], rotation_deg=options.rotation_deg
        )
        return frame, choices.GeorefMethod.ANCHOR, warnings
    reasons: list[str] = []
    if model.map_conversion is not None:
        try:
            frame, notes = georef.frame_from_map_conversion(
                model.map_conversion, project_unit_m=model.length_scale, crs_override=options.crs
            )
        except georef.GeorefError as exc:
            reasons.append(str(exc))
            warnings.append(_("IfcMapConversion not used: %(reason)s") % {"reason": exc})
        else:
            if anchor is not None:
                warnings.append(_anchor_unused("IfcMapConversion"))
            return frame, choices.GeorefMethod.MAP_CONVERSION, warnings + notes
    reference = model.site_reference
    if _has_reference(model):
        if anchor is not None:
            warnings.append(_anchor_unused("IfcSite reference point"))
        frame = georef.frame_from_site_reference(
            lon=reference.lon,
            lat=reference.lat,
            true_north=reference.true_north,
            origin_xy=reference.origin_xy,
        )
        return frame, choices.GeorefMethod.SITE_REFERENCE, warnings
    if reference is not None and reference.lon is not None and reference.lat is not None:
        warnings.append(_("The IfcSite reference point is the (0, 0) placeholder; not used."))
        reasons.append(_("the IfcSite reference point is the (0, 0) placeholder"))
    else:
        reasons.append(_("the IfcSite has no reference latitude / longitude"))
    if anchor is not None:
        frame = georef.frame_from_anchor(
            lon=anchor[0], lat=anchor[1], rotation_deg=options.rotation_deg
        )
        return frame, choices.GeorefMethod.ANCHOR, warnings
    if previous is not None:
        warnings.append(_("The file has no location; the previous import's placement was kept."))
        return previous, choices.GeorefMethod.PREVIOUS, warnings
    if model.map_conversion is None:
        reasons.insert(0, _("there is no IfcMapConversion"))
    message = _(
        "The file does not say where the building stands (%(reasons)s). Give an anchor point: "
        "--anchor LON,LAT [--rotation DEG], or anchor_lon, anchor_lat and rotation with the "
        "upload."
    ) % {"reasons": "; ".join(reasons)}
    if model.map_conversion is not None:
        message += " " + _("Or name the map CRS (--crs EPSG:…).")
    raise ValidationError({"anchor": [message]})


def _has_reference(model: ModelData) -> bool:
    reference = model.site_reference
    return reference is not None and not georef.is_placeholder(reference.lon, reference.lat)


def _anchor_unused(source: str) -> str:
    return _(
        "The anchor given was not used: the file's %(source)s places the model (choose "
        "placement 'anchor' to override it)."
    ) % {"source": source}
