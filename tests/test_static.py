"""Static files: collected with hashed names, vendored CSS left intact, nothing from outside."""

import re
from pathlib import Path

from django.core.management import call_command

VENDOR = Path(__file__).resolve().parents[1] / "web" / "static" / "vendor"


def test_collectstatic_keeps_inline_svg_fragments_of_vendored_css(settings, tmp_path):
    # given the production storage (hashed names, compressed) collecting into a fresh folder
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STORAGES = {**settings.STORAGES,
                         "staticfiles": {"BACKEND": "web.storage.StaticFilesStorage"}}  # fmt: skip
    # when collectstatic runs
    call_command("collectstatic", "--noinput", "-v0")
    # then Leaflet-Geoman's toolbar icons keep their masks as written: url(%23polygon-b)
    hashed = [p for p in (tmp_path / "static").glob("vendor/leaflet-geoman-*/leaflet-geoman.*.css")
              if p.suffix == ".css"]  # fmt: skip
    assert len(hashed) == 1
    css = hashed[0].read_text()
    assert "url(%23polygon-b)" in css
    assert "#polygon-b#polygon-b" not in css
    # and Leaflet's own images are referenced by their hashed names
    leaflet = next((tmp_path / "static").glob("vendor/leaflet-1.9.4/leaflet.*.css"))
    assert re.search(r"url\(\"images/layers\.[0-9a-f]{12}\.png\"\)", leaflet.read_text())


def test_no_vendored_file_loads_from_another_host():
    # Vendored CSS may not pull fonts or images from a CDN: the intranet cannot reach one.
    for css in VENDOR.rglob("*.css"):
        for url in re.findall(r"url\(\s*['\"]?([^'\")]+)", css.read_text()):
            assert not re.match(r"^(https?:)?//", url), f"{css.name} loads {url}"
