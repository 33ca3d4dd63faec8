"""`manage.py import_layer LAYER FILE`: validate a file row by row, then upsert all or nothing."""

import gc
import json
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from spatial.transfer.importer import format_error, layer_import
from spatial.transfer.layers import layer_names
from spatial.transfer.sources import TransferError

#: Errors printed; the --report file lists up to spatial.transfer.importer.MAX_LISTED_ERRORS.
PRINTED_ERRORS = 50


def _region(text: str) -> tuple[float, float, float, float]:
    try:
        xmin, ymin, xmax, ymax = (float(v) for v in text.split(","))
    except ValueError as exc:
        raise CommandError("--region takes minLon,minLat,maxLon,maxLat") from exc
    return xmin, ymin, xmax, ymax


class Command(BaseCommand):
    help = (
        "Import a layer (sites, buildings, floors, units, roads, parks, parcels, assets) from a "
        "GeoPackage, zipped Shapefile, GeoJSON, KML, DXF, CSV or XLSX file. Every row is "
        "checked first; rows are created or updated by code, all in one transaction, and "
        "nothing is written if any row is wrong."
    )

    # A data command: Django's system checks (URLs, admin, …) cost a second and check nothing
    # this command relies on.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("layer", choices=tuple(layer_names()))
        parser.add_argument("file", type=Path)
        parser.add_argument("--crs", help="the file's CRS: EPSG:4548, CGCS2000-GK3-CM117, GCJ02…")
        parser.add_argument("--company", help="owning company (code) of rows that name none")
        parser.add_argument("--dry-run", action="store_true", help="check only, write nothing")
        parser.add_argument("--report", type=Path, help="write the report as JSON to this file")
        parser.add_argument("--source-layer", help="the layer / sheet / CAD layer to read")
        parser.add_argument(
            "--set", action="append", default=[], metavar="FIELD=VALUE",
            help="a value for rows (or files) that have none, e.g. --set use=office",
        )  # fmt: skip
        parser.add_argument("--region", type=_region, help="expected extent, default China")
        parser.add_argument("--user", help="import as this user: scoped to their companies")
        parser.add_argument(
            "--no-history", action="store_true", help="write no change-history rows (bulk loads)"
        )

    def handle(self, *args, layer, file, crs, company, dry_run, report, source_layer, region,
               user, no_history, **options):  # fmt: skip
        defaults = {}
        for item in options["set"]:
            key, sep, value = item.partition("=")
            if not sep:
                raise CommandError(f"--set takes FIELD=VALUE, not {item!r}")
            defaults[key.strip()] = value.strip()
        acting = None
        if user:
            acting = get_user_model().objects.filter(username=user).first()
            if acting is None:
                raise CommandError(f"No user {user!r}.")
        if not file.is_file():
            raise CommandError(f"No file {file}.")
        # A batch job allocating millions of small objects: the cyclic garbage collector
        # would scan them again and again for nothing (none of them forms a cycle).
        gc.disable()
        try:
            result = layer_import(
                layer=layer, path=file, crs=crs, company=company, user=acting, dry_run=dry_run,
                defaults=defaults, region=region, source_layer=source_layer,
                history=not no_history,
            )  # fmt: skip
        except TransferError as exc:
            raise CommandError(f"{exc.field}: {exc.message} Nothing was written.") from exc
        finally:
            gc.enable()
        if report:
            report.write_text(
                json.dumps(result.as_dict(), ensure_ascii=False, indent=2, default=str),
                encoding="utf-8",
            )
        for warning in result.warnings:
            self.stderr.write(f"warning: {warning}")
        if result.ignored_columns:
            self.stderr.write(f"ignored columns: {', '.join(result.ignored_columns)}")
        for error in result.errors[:PRINTED_ERRORS]:
            self.stderr.write(format_error(error))
        if result.error_count > PRINTED_ERRORS:
            more = result.error_count - PRINTED_ERRORS
            self.stderr.write(f"… and {more} more errors" + (f" (see {report})" if report else ""))
        summary = (
            f"{layer}: {result.rows} rows from {result.file} ({result.format}, {result.crs}); "
            f"{result.create} to create, {result.update} to update"
        )
        if not result.ok:
            raise CommandError(f"{summary}; {result.error_count} errors. Nothing was written.")
        if dry_run:
            self.stdout.write(f"{summary}. Dry run: nothing was written.")
        else:
            seconds = result.seconds.get("total", 0.0)
            self.stdout.write(
                f"{layer}: {result.rows} rows imported from {result.file} in {seconds:.2f} s "
                f"({result.create} created, {result.update} updated)."
            )
        if options["verbosity"] >= 2:
            phases = ", ".join(f"{k} {v:.2f}" for k, v in result.seconds.items() if k != "total")
            self.stdout.write(f"seconds: {phases}")
