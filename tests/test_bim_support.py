"""Helpers shared by the BIM tests: the sample files, small IFC models built with
IfcOpenShell's API, a site to import into, and table counts. (No tests here.)"""

from datetime import date
from pathlib import Path

import ifcopenshell
import ifcopenshell.api.aggregate
import ifcopenshell.api.context
import ifcopenshell.api.geometry
import ifcopenshell.api.pset
import ifcopenshell.api.root
import ifcopenshell.api.unit
import ifcopenshell.util.unit
import pytest
from django.contrib.gis.geos import MultiPolygon
from django.utils import translation
from ifcopenshell.util.shape_builder import ShapeBuilder

from bim import services
from portfolio.models import Asset
from spatial.models import Building, Floor, Site, Unit
from tests.factories import SiteFactory, rect

SAMPLES = Path(__file__).resolve().parents[1] / ".." / "shared" / "ifc-samples"
TODAY = date(2025, 6, 1)
HEFEI = (117.25, 31.85)

#: What each sample holds, counted once with plain IfcOpenShell (see test_bim_samples).
EXPECTED = {
    "AC20-FZK-Haus.ifc": {"floors": 2, "units": 7, "assets": 0},
    "ExampleHOM_with_radiator.ifc": {"floors": 3, "units": 11, "assets": 1},
    "Office_A_20110811.ifc": {"floors": 3, "units": 99, "assets": 38},
    "b03_heating_with_building_blenderBIM.ifc": {"floors": 1, "units": 5, "assets": 23},
    "duplex.ifc": {"floors": 4, "units": 21, "assets": 61},
}


@pytest.fixture(autouse=True)
def english():
    """Messages and reports in English, whatever the default language (import it to use)."""
    with translation.override("en"):
        yield


def sample(name: str) -> Path:
    return SAMPLES / name


def counts() -> dict[str, int]:
    return {
        "buildings": Building.objects.count(),
        "floors": Floor.objects.count(),
        "units": Unit.objects.count(),
        "assets": Asset.objects.count(),
    }


def hefei_site(company, code: str = "HF-BIM") -> Site:
    return SiteFactory(
        company=company, code=code, geom=MultiPolygon(rect(117.24, 31.84, 2000, 2000))
    )


def importer_and_site(code: str, name: str):
    """A group company of its own with an asset manager and a site in Hefei, for tests whose
    imports run in another thread or process (so their rows must be committed)."""
    from spatial.choices import CompanyKind, Role
    from spatial.services import company_create
    from tests.factories import member

    company = company_create(code=code, name=name, kind=CompanyKind.GROUP)
    user = member(f"bim_{code.lower().replace('-', '_')}", company, Role.ASSET_MANAGER)
    return user, hefei_site(company, f"{code}-S")


def run_import(path: Path, site: Site, **options) -> dict:
    """The import proper, without a job: returns the report."""
    return services.model_import(
        path=path, site=site, options=services.ImportOptions(**options), today=TODAY
    )


# -- building IFC files ------------------------------------------------------------------------


class Model:
    """A small IFC model: project, site, building; storeys and spaces added on demand.
    Lengths are given in metres and written in the file's own unit."""

    def __init__(self, schema: str = "IFC4", storeys: int = 1):
        self.file = ifcopenshell.file(schema=schema)
        f = self.file
        self.project = ifcopenshell.api.root.create_entity(f, ifc_class="IfcProject", name="测试")
        ifcopenshell.api.unit.assign_unit(f)  # millimetres
        self.scale = ifcopenshell.util.unit.calculate_unit_scale(f)
        model = ifcopenshell.api.context.add_context(f, context_type="Model")
        self.body = ifcopenshell.api.context.add_context(
            f,
            context_type="Model",
            context_identifier="Body",
            target_view="MODEL_VIEW",
            parent=model,
        )
        self.site = self._spatial("IfcSite", "Site", self.project)
        self.building = self._spatial("IfcBuilding", "Test building", self.site)
        self.storeys = [self.add_storey(f"{n + 1}F", n * 3.0) for n in range(storeys)]

    def _spatial(self, ifc_class: str, name: str, parent):
        product = ifcopenshell.api.root.create_entity(self.file, ifc_class=ifc_class, name=name)
        ifcopenshell.api.aggregate.assign_object(
            self.file, products=[product], relating_object=parent
        )
        ifcopenshell.api.geometry.edit_object_placement(self.file, product=product)
        return product

    def add_storey(self, name: str, elevation_m: float):
        storey = self._spatial("IfcBuildingStorey", name, self.building)
        storey.Elevation = elevation_m / self.scale
        return storey

    def add_space(self, storey, name: str, box, **options):
        return add_space(self.file, storey, name, box, body=self.body, **options)

    def write(self, path: Path) -> Path:
        self.file.write(str(path))
        return path


def body_context(ifc_file: ifcopenshell.file):
    return next(
        c
        for c in ifc_file.by_type("IfcGeometricRepresentationSubContext")
        if c.ContextIdentifier == "Body" and c.TargetView == "MODEL_VIEW"
    )


def add_space(
    ifc_file: ifcopenshell.file,
    storey,
    name: str,
    box: tuple[float, float, float, float],
    *,
    body=None,
    long_name: str | None = None,
    height: float = 2.5,
    quantities: dict | None = None,
):
    """A space extruded up from the storey's elevation over the rectangle `box` =
    (x0, y0, x1, y1) in metres, written in the file's length unit."""
    scale = ifcopenshell.util.unit.calculate_unit_scale(ifc_file)
    space = ifcopenshell.api.root.create_entity(ifc_file, ifc_class="IfcSpace", name=name)
    space.LongName = long_name
    ifcopenshell.api.aggregate.assign_object(ifc_file, products=[space], relating_object=storey)
    ifcopenshell.api.geometry.edit_object_placement(ifc_file, product=space)
    x0, y0, x1, y1 = (v / scale for v in box)
    z = storey.Elevation or 0.0
    builder = ShapeBuilder(ifc_file)
    curve = builder.polyline([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], closed=True)
    solid = builder.extrude(builder.profile(curve), height / scale, position=(0.0, 0.0, z))
    representation = builder.get_representation(body or body_context(ifc_file), [solid])
    ifcopenshell.api.geometry.assign_representation(
        ifc_file, product=space, representation=representation
    )
    if quantities:
        qto = ifcopenshell.api.pset.add_qto(ifc_file, product=space, name="Qto_SpaceBaseQuantities")
        ifcopenshell.api.pset.edit_qto(ifc_file, qto=qto, properties=quantities)
    return space
