"""`manage.py import_ifc FILE --site CODE [--anchor LON,LAT --rotation DEG]`: import inline."""

import json
import time
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.management.base import BaseCommand, CommandError, CommandParser

from bim import services
from bim.choices import ImportStatus, Placement
from bim.writer import messages
from spatial.models import Site


def _anchor(value: str) -> tuple[float, float]:
    try:
        lon, lat = (float(part) for part in value.split(","))
    except ValueError as exc:
        raise CommandError("--anchor takes LON,LAT in degrees, e.g. 117.25,31.85") from exc
    return lon, lat


class Command(BaseCommand):
    help = (
        "Import an IFC model (IFC2X3, IFC4, IFC4X3) into a site: its building, storeys as "
        "floors, spaces as units and equipment as assets; a re-import of the same model "
        "updates them by GlobalId. Prints the report."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--site", required=True, help="code of the site to import into")
        parser.add_argument(
            "--anchor",
            type=_anchor,
            help="LON,LAT (WGS 84) of the model's origin, for files that do not say where",
        )
        parser.add_argument(
            "--rotation",
            type=float,
            default=0.0,
            help="bearing of the model's +Y axis, degrees clockwise from north (with --anchor)",
        )
        parser.add_argument(
            "--crs", default="", help="CRS of the file's IfcMapConversion, if it names none"
        )
        parser.add_argument(
            "--placement",
            choices=Placement.values,
            default=Placement.AUTO,
            help="auto: the file's georeferencing first; anchor: the anchor, whatever the file",
        )
        parser.add_argument("--building-code", default="", help="code of a new building")
        parser.add_argument("--json", action="store_true", help="print the whole report as JSON")

    def handle(self, *args, **options) -> None:
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        site = Site.objects.filter(code=options["site"]).first()
        if site is None:
            raise CommandError(f"No site with code {options['site']!r}.")
        started = time.perf_counter()
        try:
            with path.open("rb") as handle:
                job = services.ifc_import_create(
                    site=site,
                    upload=File(handle, name=path.name),
                    anchor=options["anchor"],
                    rotation_deg=options["rotation"],
                    crs=options["crs"],
                    placement=options["placement"],
                    building_code=options["building_code"],
                )
        except ValidationError as exc:
            raise CommandError(messages(exc)) from exc
        job = services.ifc_import_claim(job_id=job.pk)
        job = services.ifc_import_run(job)
        seconds = time.perf_counter() - started
        if job.status != ImportStatus.SUCCEEDED:
            raise CommandError(f"Import #{job.pk} of {path.name} failed: {job.message}")
        report = job.report
        if options["json"]:
            self.stdout.write(json.dumps(report, ensure_ascii=False, indent=2))
        self.stdout.write(self._summary(job, report))
        self.stdout.write(f"Imported {path.name} as #{job.pk} in {seconds:.3f} s")

    def _summary(self, job, report: dict) -> str:
        georef = report.get("georeferencing", {})
        lines = [
            f"Building {report['building'].get('code')} ({report['building'].get('name')}), "
            f"{report['file']['schema']}, units {report['file']['length_unit']}",
            f"Placed by {georef.get('method')} at {georef.get('building_centroid')}",
        ]
        for kind, counts in report["counts"].items():
            lines.append(f"  {kind}: " + ", ".join(f"{n} {what}" for what, n in counts.items()))
        for entry in report.get("kept", []):
            lines.append(f"  kept {entry['kind']} {entry['code']}: {entry['reason']}")
        skipped = report.get("skipped", [])
        for entry in skipped:
            what = entry.get("name") or entry.get("global_id") or ""
            count = f"{entry['count']} × " if "count" in entry else ""
            lines.append(f"  skipped {count}{entry['ifc_class']} {what}: {entry['reason']}")
        for warning in report.get("warnings", []):
            lines.append(f"  warning: {warning}")
        return "\n".join(lines)
