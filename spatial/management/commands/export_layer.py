"""`manage.py export_layer LAYER OUT`: a layer to GeoPackage, Shapefile, GeoJSON, KML or XLSX."""

import shutil
import tempfile
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from spatial.models import Company, Site
from spatial.transfer.api import export_queryset, filterset_for
from spatial.transfer.exporter import layer_export, parse_format
from spatial.transfer.layers import layer_names
from spatial.transfer.sources import TransferError


class Command(BaseCommand):
    help = (
        "Export a layer to a file in any CRS (EPSG codes, CGCS2000 Gauss-Krüger zones, GCJ02, "
        "BD09), with the columns an import reads back."
    )

    requires_system_checks = []  # a data command, as import_layer

    def add_arguments(self, parser):
        parser.add_argument("layer", choices=tuple(layer_names()))
        parser.add_argument("out", type=Path)
        parser.add_argument("--format", help="gpkg, shp (a zip), geojson, kml, xlsx, csv or dxf")
        parser.add_argument("--crs", default="EPSG:4326", help="output CRS, default EPSG:4326")
        parser.add_argument("--company", help="this company (code) and the companies below it")
        parser.add_argument("--site", help="rows of this site (code)")
        parser.add_argument("--status", help="units: vacant, leased, …")
        parser.add_argument("--bbox", help="minLon,minLat,maxLon,maxLat (EPSG:4326)")
        parser.add_argument(
            "--filter", action="append", default=[], metavar="NAME=VALUE",
            help="any filter of the layer's API list, e.g. --filter use=office",
        )  # fmt: skip
        parser.add_argument("--user", help="export as this user: only what they may see")

    def handle(self, *args, layer, out, format, crs, company, site, status, bbox, user,
               **options):  # fmt: skip
        params = {}
        for item in options["filter"]:
            key, sep, value = item.partition("=")
            if not sep:
                raise CommandError(f"--filter takes NAME=VALUE, not {item!r}")
            params[key.strip()] = value.strip()
        if company:
            found = Company.objects.filter(code=company).first()
            if found is None:
                raise CommandError(f"No company {company!r}.")
            params["company_tree"] = str(found.pk)
        if site:
            if layer == "sites":
                params["code"] = site
            else:
                found = Site.objects.filter(code=site).first()
                if found is None:
                    raise CommandError(f"No site {site!r}.")
                params["site"] = str(found.pk)
        if status:
            if "status" not in filterset_for(layer).base_filters:
                raise CommandError(f"{layer} have no status.")
            params["status"] = status
        if bbox:
            params["bbox"] = bbox
        acting = None
        if user:
            acting = get_user_model().objects.filter(username=user).first()
            if acting is None:
                raise CommandError(f"No user {user!r}.")
        folder = Path(tempfile.mkdtemp(prefix="geoasset-export-"))
        try:
            fmt = parse_format(format, out)
            queryset = export_queryset(layer=layer, user=acting, params=params)
            result = layer_export(layer=layer, queryset=queryset, fmt=fmt, crs=crs, folder=folder)
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(result.path, out)
        except TransferError as exc:
            raise CommandError(f"{exc.field}: {exc.message}") from exc
        except ValidationError as exc:
            reasons = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
            raise CommandError(reasons) from exc
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        self.stdout.write(f"{layer}: {result.count} rows exported to {out} ({fmt}, {result.crs}).")
