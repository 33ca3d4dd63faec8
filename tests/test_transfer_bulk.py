"""The paths a bulk import takes for speed give what the plain paths gave: columns an export
adds are not read, numeric cells and repeated cells are converted once, and a unit's building
and site copies (no database constraint of their own) still follow its floor on delete."""

import subprocess
import sys
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from django.db.models import ProtectedError

from spatial.models import Building, Site, Unit
from spatial.transfer import sources
from spatial.transfer.importer import _cell_texts, layer_import
from tests import transfer_files as files
from tests.factories import UnitFactory

pytestmark = pytest.mark.usefixtures("english")


def _exported_rows(floor, count=3, **extra):
    """Unit rows as an export writes them: with the computed columns an import ignores."""
    rows = files.unit_rows(floor, count)
    for row in rows:
        row.update(building_code="B-A", site_code="S-A", area_m2=80.7, outside_floor=False, **extra)
    return rows


def test_export_columns_are_not_read_and_unknown_columns_are_still_reported(
    tree, floor_a, tmp_path
):
    # given a GeoPackage with the export's computed columns and one column nobody knows
    path = files.write_gpkg(tmp_path / "units.gpkg", _exported_rows(floor_a, favourite="blue"))
    # when
    wanted = sources._wanted_columns(path, "units", "units")
    report = layer_import(layer="units", path=path)
    # then the computed columns are skipped, the unknown one is read and reported
    assert "area_m2" not in wanted and "building_code" not in wanted
    assert {"code", "floor_code", "gross_area", "favourite"} <= set(wanted)
    assert report.ok and report.committed and report.create == 3
    assert report.ignored_columns == ["favourite"]
    assert "area_m2" not in report.columns
    unit = Unit.objects.get(code="IMP-U001")
    assert (unit.gross_area, unit.building_id) == (Decimal("81.00"), floor_a.building_id)


def test_a_file_without_export_columns_is_read_whole(tree, floor_a, tmp_path):
    path = files.write_gpkg(tmp_path / "units.gpkg", files.unit_rows(floor_a, 2))
    assert sources._wanted_columns(path, "units", "units") is None


def test_numeric_cells_become_the_texts_they_always_were():
    # integers without ".0", floats as written, missing as empty, booleans, and objects
    floats = pd.Series([81.0, 68.5, np.nan, 81.0, 1e16, 0.1 + 0.2])
    assert _cell_texts(floats) == ["81", "68.5", "", "81", "1e+16", "0.30000000000000004"]
    assert _cell_texts(pd.Series([3, 1, 3], dtype="int64")) == ["3", "1", "3"]
    assert _cell_texts(pd.Series([True, False])) == ["True", "False"]
    assert _cell_texts(pd.Series([" a ", None, 2.5], dtype=object)) == ["a", "", "2.5"]


def test_a_repeated_bad_cell_is_an_error_on_every_row_it_is_on(tree, floor_a, tmp_path):
    # given three rows with the same unreadable area and the same bad use, one good row
    rows = files.unit_rows(floor_a, 4)
    for row in rows[:3]:
        row.update(gross_area="abc", use="spaceship")
    path = files.write_csv(tmp_path / "units.csv", rows, crs_="EPSG:4326")
    # when
    report = layer_import(layer="units", path=path)
    # then each of the three rows has both errors, and nothing is written
    found = sorted((e.row, e.field, e.code) for e in report.errors)
    assert found == [
        (row, field, code)
        for row in (1, 2, 3)
        for field, code in (("gross_area", "invalid"), ("use", "invalid_choice"))
    ]
    assert not report.committed and not Unit.objects.exists()


def test_repeated_good_cells_give_equal_values_on_every_row(tree, floor_a, tmp_path):
    rows = files.unit_rows(floor_a, 3)
    rows[1]["gross_area"] = 90.005  # rounds half up
    path = files.write_gpkg(tmp_path / "units.gpkg", rows)
    report = layer_import(layer="units", path=path)
    assert report.ok
    areas = dict(Unit.objects.values_list("code", "gross_area"))
    assert areas == {
        "IMP-U001": Decimal("81.00"),
        "IMP-U002": Decimal("90.01"),
        "IMP-U003": Decimal("81.00"),
    }


def test_a_building_deleted_takes_its_units_and_a_site_with_units_is_protected(tree, floor_a):
    # building and site of a unit are copies with no constraint in the database: Django's
    # CASCADE and PROTECT still hold for them
    unit = UnitFactory(floor=floor_a)
    assert (unit.building_id, unit.site_id) == (floor_a.building_id, floor_a.building.site_id)
    with pytest.raises(ProtectedError):
        Site.objects.filter(pk=floor_a.building.site_id).delete()
    Building.objects.filter(pk=floor_a.building_id).delete()
    assert not Unit.objects.filter(pk=unit.pk).exists()


def test_start_up_and_the_urlconf_load_no_pandas_gdal_reader_or_openpyxl():
    # every command and worker loads the apps and the URLconf; the import/export modules
    # (pandas, geopandas, pyogrio) and openpyxl load when a view or command uses them
    code = (
        "import os, sys, django; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'web.settings');"
        "django.setup(); import web.urls;"
        "print(sorted(m for m in ('pandas', 'geopandas', 'pyogrio', 'openpyxl')"
        " if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "[]", done.stdout + done.stderr
