"""WFS 2.0 at /wfs/, tested as GIS analysts use it: OWSLib and GDAL against a live server.

Every layer is a feature type with its attributes; GetFeature pages, sorts, filters (FES 2.0
and BBOX) and reprojects to CGCS2000, Web Mercator and the Gauss-Krüger zones with the right
axis order; every feature type is scoped like the API; anonymous clients are challenged
unless anonymous reads are switched on; bad requests get OWS exception reports; responses
validate against the official OGC schemas vendored in tests/schemas (see its README).
"""

import base64
import json
import os
import subprocess
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
import xmlschema
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from lxml import etree
from owslib.fes2 import Filter, PropertyIsEqualTo
from owslib.util import ServiceException
from owslib.wfs import WebFeatureService
from pyproj import Transformer

from portfolio.models import Asset
from spatial import wfs
from spatial.models import Floor, Site, Unit
from tests.conftest import Tree
from tests.factories import (
    PASSWORD,
    AssetFactory,
    BuildingFactory,
    FloorFactory,
    ParcelFactory,
    ParkFactory,
    RoadFactory,
    SiteFactory,
    UnitFactory,
)

# Live-server tests commit their data; the GB/T 14885 categories the migrations loaded are
# restored for each test from the serialized database.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

NS = {
    "wfs": "http://www.opengis.net/wfs/2.0",
    "gml": "http://www.opengis.net/gml/3.2",
    "ows": "http://www.opengis.net/ows/1.1",
    "fes": "http://www.opengis.net/fes/2.0",
    "app": wfs.XML_NAMESPACE,
}
LAYER_NAMES = ["sites", "buildings", "floors", "units", "roads", "parks", "parcels", "assets"]
URN_4326 = "urn:ogc:def:crs:EPSG::4326"


# -- data: two subsidiaries, a few features per layer ------------------------------------------


@dataclass(frozen=True)
class Portfolio:
    codes_a: dict[str, set[str]]
    codes_b: dict[str, set[str]]
    a_site_extent: tuple[float, float, float, float]


def _company_features(company, prefix: str, unit_statuses: list[str]) -> dict[str, set[str]]:
    site = SiteFactory(code=f"{prefix}-S1", name=f"{prefix}园区", company=company)
    building = BuildingFactory(code=f"{prefix}-B1", site=site)
    floor = FloorFactory(code=f"{prefix}-F1", building=building, level=1)
    units = [
        UnitFactory(code=f"{prefix}-U{n}", name=f"{prefix}-{n}室", floor=floor, status=status)
        for n, status in enumerate(unit_statuses, start=1)
    ]
    RoadFactory(code=f"{prefix}-R1", site=site, start_stake_m=100, end_stake_m=280)
    ParkFactory(code=f"{prefix}-P1", site=site)
    ParcelFactory(
        code=f"{prefix}-L1", site=site, title_number=f"皖(2024)合肥市不动产权第{prefix}号"
    )
    AssetFactory(code=f"{prefix}-A1", company=company, unit=units[0], geom=units[0].geom.centroid)
    # Registered without a position: not on the asset layer.
    AssetFactory(code=f"{prefix}-A9", company=company)
    return {
        "sites": {site.code},
        "buildings": {building.code},
        "floors": {floor.code},
        "units": {unit.code for unit in units},
        "roads": {f"{prefix}-R1"},
        "parks": {f"{prefix}-P1"},
        "parcels": {f"{prefix}-L1"},
        "assets": {f"{prefix}-A1"},
    }


@pytest.fixture
def portfolio(tree: Tree) -> Portfolio:
    codes_a = _company_features(tree.sub_a, "A", ["vacant", "leased", "vacant"])
    codes_b = _company_features(tree.sub_b, "B", ["leased", "vacant"])
    return Portfolio(codes_a, codes_b, Site.objects.get(code="A-S1").geom.extent)


@pytest.fixture
def wfs_url(live_server, settings) -> str:
    # conftest allows only "testserver"; the live server answers on its own host name.
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, urlsplit(live_server.url).hostname]
    return f"{live_server.url}/wfs/"


def _get(url: str, user=None, **params) -> requests.Response:
    auth = (user.get_username(), PASSWORD) if user is not None else None
    return requests.get(url, params={"SERVICE": "WFS", **params}, auth=auth, timeout=60)


def _get_feature(url: str, user, type_name: str, **params) -> requests.Response:
    return _get(url, user, VERSION="2.0.0", REQUEST="GetFeature", TYPENAMES=type_name, **params)


def _geojson_codes(response: requests.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [f["properties"]["code"] for f in response.json()["features"]]


def _gml_codes(content: bytes) -> list[str]:
    root = etree.fromstring(content)
    return [code.text for code in root.iterfind("wfs:member/*/app:code", NS)]


def _exception(response: requests.Response) -> tuple[str, str | None]:
    root = etree.fromstring(response.content)
    assert root.tag == f"{{{NS['ows']}}}ExceptionReport"
    exception = root.find("ows:Exception", NS)
    return exception.get("exceptionCode"), exception.get("locator")


def _basic_header(user) -> str:
    token = base64.b64encode(f"{user.get_username()}:{PASSWORD}".encode()).decode()
    return f"Basic {token}"


def _owslib(url: str, user) -> WebFeatureService:
    return WebFeatureService(
        url, version="2.0.0", username=user.get_username(), password=PASSWORD, timeout=60
    )


# -- official OGC schemas, offline -------------------------------------------------------------

SCHEMAS = Path(__file__).parent / "schemas" / "pycsw" / "core" / "schemas"
#: Where the OGC and W3C schemas live on the web, and where their copies are here.
SCHEMA_COPIES = {
    "http://schemas.opengis.net/gml/3.2.1/gml.xsd": SCHEMAS / "ogc/gml/3.2.1/gml.xsd",
    "http://schemas.opengis.net/ows/1.1.0/owsAll.xsd": SCHEMAS / "ogc/ows/1.1.0/owsAll.xsd",
    "http://schemas.opengis.net/ows/1.1.0/owsExceptionReport.xsd": (
        SCHEMAS / "ogc/ows/1.1.0/owsExceptionReport.xsd"
    ),
    "http://schemas.opengis.net/fes/2.0/filterAll.xsd": SCHEMAS / "ogc/filter/2.0/filterAll.xsd",
    "http://www.w3.org/1999/xlink.xsd": SCHEMAS / "w3c/1999/xlink.xsd",
    "http://www.w3.org/2001/xml.xsd": SCHEMAS / "w3c/2001/xml.xsd",
}
NAMESPACE_SCHEMAS = {
    NS["gml"]: str(SCHEMAS / "ogc/gml/3.2.1/gml.xsd"),
    NS["fes"]: str(SCHEMAS / "ogc/filter/2.0/filter.xsd"),
    NS["ows"]: str(SCHEMAS / "ogc/ows/1.1.0/owsAll.xsd"),
    "http://www.w3.org/1999/xlink": str(SCHEMAS / "w3c/1999/xlink.xsd"),
}


def _local_copy(uri: str) -> str:
    return str(SCHEMA_COPIES.get(uri, uri))


def _load_schema(source) -> xmlschema.XMLSchema10:
    # allow="local": a schema that would need the network fails instead of fetching.
    return xmlschema.XMLSchema10(
        source, locations=NAMESPACE_SCHEMAS, uri_mapper=_local_copy, allow="local"
    )


@cache
def _feature_schema(describe_feature_type: str) -> xmlschema.XMLSchema10:
    return _load_schema(describe_feature_type)


@cache
def ogc_schema() -> xmlschema.XMLSchema10:
    """FES 2.0 with OWS 1.1, GML 3.2.1, xlink and xml.xsd, all from the local copies."""
    return _load_schema(NAMESPACE_SCHEMAS[NS["fes"]])


def _schema_errors(schema: xmlschema.XMLSchema10, element, nsmap: dict) -> list[str]:
    namespaces = {prefix or "": uri for prefix, uri in nsmap.items()}
    return [str(error) for error in schema.iter_errors(element, namespaces=namespaces)]


# -- capabilities ------------------------------------------------------------------------------


def test_capabilities_list_every_layer_with_chinese_titles_crss_and_formats(
    wfs_url, portfolio, manager_a
):
    # when
    service = _owslib(wfs_url, manager_a)
    # then
    assert list(service.contents) == [f"geoasset:{name}" for name in LAYER_NAMES]
    assert service.contents["geoasset:units"].title == "房源"
    assert service.contents["geoasset:parcels"].title == "土地/宗地"
    assert service.identification.title == "空间资产平台 WFS (GeoAsset WFS)"
    assert service.provider.name == "GeoAsset 空间资产平台"
    crss = [crs.getcodeurn() for crs in service.contents["geoasset:units"].crsOptions]
    assert crss[:4] == [
        URN_4326,
        "urn:ogc:def:crs:EPSG::4490",
        "urn:ogc:def:crs:EPSG::3857",
        "urn:ogc:def:crs:OGC::CRS84",
    ]
    gauss_kruger = [f"urn:ogc:def:crs:EPSG::{code}" for code in range(4534, 4555)]
    assert crss[4:] == gauss_kruger  # CGCS2000 / 3-degree GK CM 75E … 135E; Hefei: 4548
    formats = service.getOperationByName("GetFeature").parameters["outputFormat"]["values"]
    assert "application/gml+xml; version=3.2" in formats
    assert "application/json; subtype=geojson; charset=utf-8" in formats
    assert "text/csv; subtype=csv; charset=utf-8" in formats
    # the bounding box covers only what the user sees: company A's site
    west, south, east, north = portfolio.a_site_extent
    box = service.contents["geoasset:sites"].boundingBoxWGS84
    assert box == pytest.approx((west, south, east, north), abs=1e-6)


def test_capabilities_parts_validate_against_the_ows_and_fes_schemas(wfs_url, portfolio, manager_a):
    # when
    response = _get(wfs_url, manager_a, REQUEST="GetCapabilities")
    # then
    assert response.status_code == 200
    root = etree.fromstring(response.content)
    assert root.tag == f"{{{NS['wfs']}}}WFS_Capabilities"
    assert root.get("version") == "2.0.0"
    parts = [
        root.find("ows:ServiceIdentification", NS),
        root.find("ows:ServiceProvider", NS),
        root.find("ows:OperationsMetadata", NS),
        root.find("fes:Filter_Capabilities", NS),
        *root.iterfind("wfs:FeatureTypeList/wfs:FeatureType/ows:WGS84BoundingBox", NS),
        *root.iterfind("wfs:FeatureTypeList/wfs:FeatureType/ows:Keywords", NS),
    ]
    assert len(parts) == 4 + 8 + 8  # every layer has data and keywords here (group admin)
    for part in parts:
        assert _schema_errors(ogc_schema(), part, root.nsmap) == [], part.tag
    # no official WFS 2.0 schema ships offline: its own elements are checked by hand
    feature_types = root.findall("wfs:FeatureTypeList/wfs:FeatureType", NS)
    assert [ft.findtext("wfs:Name", namespaces=NS) for ft in feature_types] == [
        f"geoasset:{name}" for name in LAYER_NAMES
    ]
    for ft in feature_types:
        assert [child.tag.rpartition("}")[2] for child in ft] == [
            "Name",
            "Title",
            "Abstract",
            "Keywords",
            "DefaultCRS",
            *["OtherCRS"] * 24,
            "OutputFormats",
            "WGS84BoundingBox",
        ]


def test_describe_feature_type_is_an_xml_schema_of_gml_features(wfs_url, portfolio, manager_a):
    # when
    response = _get(wfs_url, manager_a, VERSION="2.0.0", REQUEST="DescribeFeatureType")
    # then
    assert response.status_code == 200
    schema = _feature_schema(response.text)
    abstract_feature = schema.maps.types[f"{{{NS['gml']}}}AbstractFeatureType"]
    for name in LAYER_NAMES:
        element = schema.elements[name]
        assert element.type.is_derived(abstract_feature), name

    def own_elements(type_name: str) -> list[str]:
        elements = schema.types[type_name].content.iter_elements()
        return [e.local_name for e in elements if e.target_namespace == wfs.XML_NAMESPACE]

    assert own_elements("UnitsType") == [
        "code",
        "name",
        "company_code",
        "company_name",
        "site_code",
        "building_code",
        "floor_code",
        "level",
        "number",
        "use",
        "status",
        "gross_area",
        "usable_area",
        "area_m2",
        "outside_floor",
        # registered by leasing (leasing/layers.py)
        "availability",
        "lease_end",
        "rent_sqm_month",
        "tenant_name",
        "updated_at",
        "geom",
    ]
    roads = set(own_elements("RoadsType"))
    assert {"start_stake_m", "end_stake_m", "length_m", "grade", "site_code"} <= roads
    parcels = set(own_elements("ParcelsType"))
    assert {"land_use", "land_right", "title_number", "official_area", "area_m2"} <= parcels
    assets = set(own_elements("AssetsType"))
    assert {"category_code", "category_name", "status", "unit_code"} <= assets


@pytest.mark.parametrize("layer", LAYER_NAMES)
def test_get_feature_gml_validates_against_the_feature_schema_and_gml_3_2(
    wfs_url, portfolio, group_admin, layer
):
    # given: the schema of all layers (the same text each time, so loaded once)
    describe = _get(wfs_url, group_admin, VERSION="2.0.0", REQUEST="DescribeFeatureType")
    schema = _feature_schema(describe.text)
    # when
    response = _get_feature(wfs_url, group_admin, layer)
    # then
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/xml; charset=utf-8"
    root = etree.fromstring(response.content)
    assert root.tag == f"{{{NS['wfs']}}}FeatureCollection"
    expected = portfolio.codes_a[layer] | portfolio.codes_b[layer]
    assert int(root.get("numberMatched")) == int(root.get("numberReturned")) == len(expected)
    features = [member[0] for member in root.iterfind("wfs:member", NS)]
    assert {f.findtext("app:code", namespaces=NS) for f in features} == expected
    for feature in features:
        assert _schema_errors(schema, feature, root.nsmap) == []
    # and the validation bites: a wrong value in a feature is reported
    features[0].find("app:updated_at", NS).text = "yesterday"
    assert _schema_errors(schema, features[0], root.nsmap) != []


# -- GetFeature: paging, sorting, filters, hits -------------------------------------------------


def test_get_feature_pages_with_startindex_and_count_in_sort_order(wfs_url, portfolio, group_admin):
    # given
    service = _owslib(wfs_url, group_admin)
    # when
    pages = [
        service.getfeature(
            typename=["geoasset:units"], maxfeatures=2, startindex=start, sortby=["code DESC"]
        ).read()
        for start in (0, 2, 4)
    ]
    # then
    assert [_gml_codes(page) for page in pages] == [["B-U2", "B-U1"], ["A-U3", "A-U2"], ["A-U1"]]
    first = etree.fromstring(pages[0])
    assert (first.get("numberMatched"), first.get("numberReturned")) == ("5", "2")
    assert "STARTINDEX=2" in first.get("next")


def test_get_feature_sorts_ascending_by_code(wfs_url, portfolio, manager_a):
    # when
    response = _get_feature(wfs_url, manager_a, "units", SORTBY="code ASC", COUNT=2)
    # then
    assert _gml_codes(response.content) == ["A-U1", "A-U2"]


def test_fes_filter_on_status_returns_exactly_the_matching_units(wfs_url, portfolio, group_admin):
    # given
    service = _owslib(wfs_url, group_admin)
    fes = Filter(PropertyIsEqualTo(propertyname="status", literal="vacant"))
    # when
    gml = service.getfeature(
        typename=["geoasset:units"], filter=etree.tostring(fes.toXML()).decode(), method="Post"
    ).read()
    # then
    assert sorted(_gml_codes(gml)) == ["A-U1", "A-U3", "B-U2"]


def test_fes_filter_on_a_parent_code_returns_that_parents_children(wfs_url, portfolio, group_admin):
    # given
    fes = (
        f'<fes:Filter xmlns:fes="{NS["fes"]}"><fes:PropertyIsEqualTo>'
        "<fes:ValueReference>floor_code</fes:ValueReference><fes:Literal>B-F1</fes:Literal>"
        "</fes:PropertyIsEqualTo></fes:Filter>"
    )
    # when
    response = _get_feature(wfs_url, group_admin, "units", FILTER=fes)
    # then
    assert sorted(_gml_codes(response.content)) == ["B-U1", "B-U2"]


def test_bbox_returns_exactly_the_features_inside(wfs_url, portfolio, group_admin):
    # given: company A's site; company B's lies 250 m away
    service = _owslib(wfs_url, group_admin)
    west, south, east, north = portfolio.a_site_extent
    # when
    units = service.getfeature(
        typename=["geoasset:units"], bbox=(west, south, east, north, URN_4326)
    ).read()
    assets = service.getfeature(
        typename=["geoasset:assets"], bbox=(west, south, east, north, URN_4326)
    ).read()
    # then
    assert sorted(_gml_codes(units)) == ["A-U1", "A-U2", "A-U3"]
    assert _gml_codes(assets) == ["A-A1"]


def test_fes_bbox_filter_in_lon_lat_order_with_the_legacy_crs_name(wfs_url, portfolio, group_admin):
    # given: "EPSG:4326" is read as longitude/latitude, as GeoServer does
    west, south, east, north = portfolio.a_site_extent
    fes = (
        f'<fes:Filter xmlns:fes="{NS["fes"]}" xmlns:gml="{NS["gml"]}"><fes:BBOX>'
        "<fes:ValueReference>geom</fes:ValueReference>"
        f'<gml:Envelope srsName="EPSG:4326"><gml:lowerCorner>{west} {south}</gml:lowerCorner>'
        f"<gml:upperCorner>{east} {north}</gml:upperCorner></gml:Envelope>"
        "</fes:BBOX></fes:Filter>"
    )
    # when
    response = _get_feature(wfs_url, group_admin, "buildings", FILTER=fes)
    # then
    assert _gml_codes(response.content) == ["A-B1"]


def test_bbox_parameter_in_crs84_is_longitude_first(wfs_url, portfolio, group_admin):
    # given: the BBOX parameter follows its CRS's axis order; OGC CRS84 is x/y
    west, south, east, north = portfolio.a_site_extent
    # when
    response = _get_feature(
        wfs_url,
        group_admin,
        "parcels",
        BBOX=f"{west},{south},{east},{north},urn:ogc:def:crs:OGC::CRS84",
        SRSNAME="urn:ogc:def:crs:OGC::CRS84",
    )
    # then
    assert _gml_codes(response.content) == ["A-L1"]
    lon, lat = _first_ring(response.content)[0]
    assert 117 < lon < 118 and 31 < lat < 32


def test_result_type_hits_counts_without_features(wfs_url, portfolio, group_admin):
    # when
    response = _get_feature(wfs_url, group_admin, "units", RESULTTYPE="hits")
    # then
    root = etree.fromstring(response.content)
    assert (root.get("numberMatched"), root.get("numberReturned")) == ("5", "0")
    assert root.findall("wfs:member", NS) == []


def test_get_property_value_returns_the_values_of_one_attribute(wfs_url, portfolio, manager_a):
    # when
    response = _get(
        wfs_url,
        manager_a,
        VERSION="2.0.0",
        REQUEST="GetPropertyValue",
        TYPENAMES="units",
        VALUEREFERENCE="status",
        SORTBY="code",
    )
    # then
    assert response.status_code == 200
    root = etree.fromstring(response.content)
    assert root.tag == f"{{{NS['wfs']}}}ValueCollection"
    values = [value.text for value in root.iterfind("wfs:member/app:status", NS)]
    assert values == ["vacant", "leased", "vacant"]


def test_get_feature_runs_the_same_queries_for_more_features(portfolio, group_admin):
    # given: in-process, so the queries can be counted
    client = Client(HTTP_AUTHORIZATION=_basic_header(group_admin))
    params = {"SERVICE": "WFS", "VERSION": "2.0.0", "REQUEST": "GetFeature", "TYPENAMES": "units"}

    def count_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            response = client.get("/wfs/", params)
            body = b"".join(response.streaming_content)
        assert body.count(b"<wfs:member>") == Unit.objects.count()
        return len(queries)

    before = count_queries()
    UnitFactory.create_batch(5, floor=Floor.objects.get(code="B-F1"))
    # when
    after = count_queries()
    # then: company and parent codes come from one prefetch each, not one query per unit
    assert after == before


def test_the_index_page_lists_the_layers_for_a_signed_in_browser(portfolio, manager_a):
    # given
    client = Client()
    client.force_login(manager_a)
    # when
    response = client.get("/wfs/")
    # then
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert "房源" in page and "units" in page
    assert "空间资产平台 WFS" in page


def test_post_get_feature_needs_no_csrf_token(wfs_url, portfolio, manager_b):
    # given: an XML GetFeature, as QGIS and OWSLib post it
    body = (
        f'<wfs:GetFeature service="WFS" version="2.0.0" xmlns:wfs="{NS["wfs"]}" '
        f'xmlns:geoasset="{wfs.XML_NAMESPACE}"><wfs:Query typeNames="geoasset:roads"/>'
        "</wfs:GetFeature>"
    )
    # when
    response = requests.post(
        wfs_url,
        data=body.encode(),
        headers={"Content-Type": "text/xml"},
        auth=(manager_b.get_username(), PASSWORD),
        timeout=60,
    )
    # then
    assert response.status_code == 200, response.text
    assert _gml_codes(response.content) == ["B-R1"]


# -- output formats ----------------------------------------------------------------------------


def test_geojson_output_has_the_attributes_in_lon_lat(wfs_url, portfolio, manager_a):
    # when
    response = _get_feature(
        wfs_url, manager_a, "roads", OUTPUTFORMAT="application/json; subtype=geojson"
    )
    # then
    assert response.headers["Content-Type"] == "application/geo+json; charset=utf-8"
    (road,) = response.json()["features"]
    assert road["properties"] == {
        "code": "A-R1",
        "name": road["properties"]["name"],
        "company_code": "HFCT-A",
        "company_name": "合肥滨湖置业有限公司",
        "site_code": "A-S1",
        "grade": "internal",
        "width_m": None,
        "lanes": None,
        "start_stake_m": "100.00",
        "end_stake_m": "280.00",
        "length_m": pytest.approx(180, abs=0.5),
        "updated_at": road["properties"]["updated_at"],
    }
    lon, lat = road["geometry"]["coordinates"][0]
    assert 117 < lon < 118 and 31 < lat < 32


def test_csv_output_has_a_header_and_one_row_per_feature(wfs_url, portfolio, manager_b):
    # when
    response = _get_feature(wfs_url, manager_b, "assets", OUTPUTFORMAT="csv", SORTBY="code")
    # then
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    header, *rows = response.text.strip().splitlines()
    assert header.split(",")[:7] == [
        '"code"',
        '"name"',
        '"company_code"',
        '"company_name"',
        '"category_code"',
        '"category_name"',
        '"status"',
    ]
    assert [row.split(",")[0] for row in rows] == ['"B-A1"']
    assert '"2010000","计算机设备及软件","in_use","B-S1","B-B1","B-F1","B-U1"' in rows[0]


# -- coordinate reference systems ----------------------------------------------------------------


def _first_ring(content: bytes) -> list[tuple[float, float]]:
    root = etree.fromstring(content)
    numbers = [float(n) for n in root.findtext(".//gml:posList", namespaces=NS).split()]
    return list(zip(numbers[::2], numbers[1::2], strict=True))


@pytest.mark.parametrize(
    ("srs_name", "epsg", "north_first", "tolerance"),
    [
        ("urn:ogc:def:crs:EPSG::4490", 4490, True, 1e-6),  # CGCS2000, latitude first
        ("urn:ogc:def:crs:EPSG::3857", 3857, False, 0.01),  # Web Mercator, x/y
        ("urn:ogc:def:crs:EPSG::4548", 4548, True, 0.01),  # GK CM 117E, northing first
        ("urn:ogc:def:crs:EPSG::4549", 4549, True, 0.01),  # GK CM 120E: a neighbour zone
    ],
)
def test_srsname_reprojects_like_pyproj_in_the_crs_axis_order(
    wfs_url, portfolio, manager_a, srs_name, epsg, north_first, tolerance
):
    # given
    service = _owslib(wfs_url, manager_a)
    stored = Unit.objects.get(code="A-U1").geom.coords[0]
    to_crs = Transformer.from_crs(4326, epsg, always_xy=True)
    expected = [to_crs.transform(lon, lat) for lon, lat in stored]
    if north_first:
        expected = [(y, x) for x, y in expected]
    # when
    gml = service.getfeature(
        typename=["geoasset:units"], srsname=srs_name, sortby=["code"], maxfeatures=1
    ).read()
    # then
    root = etree.fromstring(gml)
    assert _gml_codes(gml) == ["A-U1"]
    assert root.find(".//gml:Polygon", NS).get("srsName") == srs_name
    assert _first_ring(gml) == [pytest.approx(point, abs=tolerance) for point in expected]


def test_gauss_kruger_geojson_is_easting_northing(wfs_url, portfolio, manager_a):
    # given
    stored = Unit.objects.get(code="A-U1").geom.coords[0]
    to_gk = Transformer.from_crs(4326, 4548, always_xy=True)
    # when
    response = _get_feature(
        wfs_url,
        manager_a,
        "units",
        SRSNAME="urn:ogc:def:crs:EPSG::4548",
        OUTPUTFORMAT="geojson",
        SORTBY="code",
        COUNT=1,
    )
    # then
    ring = response.json()["features"][0]["geometry"]["coordinates"][0]
    expected = [list(to_gk.transform(lon, lat)) for lon, lat in stored]
    assert ring == [pytest.approx(point, abs=0.01) for point in expected]
    easting, northing = ring[0]
    assert 500_000 < easting < 600_000 and 3_500_000 < northing < 3_600_000


@pytest.mark.parametrize(
    ("params", "lat_first"),
    [
        ({"SRSNAME": URN_4326}, True),  # GML 3.2 with the OGC URN: latitude, longitude
        ({}, True),  # the default CRS is that URN
        ({"SRSNAME": "EPSG:4326"}, False),  # the legacy name: longitude, latitude
    ],
)
def test_wgs84_axis_order_follows_the_crs_name(wfs_url, portfolio, manager_a, params, lat_first):
    # given
    lon, lat = Unit.objects.get(code="A-U1").geom.coords[0][0]
    # when
    response = _get_feature(wfs_url, manager_a, "units", SORTBY="code", COUNT=1, **params)
    # then
    expected = (lat, lon) if lat_first else (lon, lat)
    assert _first_ring(response.content)[0] == pytest.approx(expected, abs=1e-9)


def test_gk_zone_srid_picks_the_3_degree_zone_of_a_longitude():
    assert wfs.gk_zone_srid(117.25) == 4548  # Hefei: CM 117E
    assert wfs.gk_zone_srid(114.06) == 4547  # Shenzhen: CM 114E
    assert wfs.gk_zone_srid(121.47) == 4549  # Shanghai: CM 120E (zone 118.5E-121.5E)
    assert wfs.gk_zone_srid(121.6) == 4550  # Pudong east of 121.5E: CM 123E
    assert wfs.gk_zone_srid(75.0) == 4534
    assert wfs.gk_zone_srid(135.0) == 4554


# -- scoping -----------------------------------------------------------------------------------


def test_user_of_b_sees_none_of_as_features_on_any_layer(wfs_url, portfolio, manager_b):
    for layer in LAYER_NAMES:
        # when
        response = _get_feature(wfs_url, manager_b, layer, OUTPUTFORMAT="geojson")
        # then
        assert set(_geojson_codes(response)) == portfolio.codes_b[layer], layer


def test_result_type_hits_counts_only_the_users_companies(wfs_url, portfolio, manager_b):
    # when
    response = _get_feature(wfs_url, manager_b, "units", RESULTTYPE="hits")
    # then
    assert etree.fromstring(response.content).get("numberMatched") == "2"


def test_a_feature_of_another_company_is_not_found_by_code(wfs_url, portfolio, manager_b):
    # given
    fes = (
        f'<fes:Filter xmlns:fes="{NS["fes"]}"><fes:PropertyIsEqualTo>'
        "<fes:ValueReference>code</fes:ValueReference><fes:Literal>A-U1</fes:Literal>"
        "</fes:PropertyIsEqualTo></fes:Filter>"
    )
    # when
    response = _get_feature(wfs_url, manager_b, "units", FILTER=fes, RESULTTYPE="hits")
    # then
    assert etree.fromstring(response.content).get("numberMatched") == "0"


def test_session_login_is_accepted(wfs_url, portfolio, manager_a):
    # given: a session as the web login makes it
    client = Client()
    client.force_login(manager_a)
    cookies = {"sessionid": client.cookies["sessionid"].value}
    # when
    response = requests.get(
        wfs_url,
        params={
            "SERVICE": "WFS",
            "VERSION": "2.0.0",
            "REQUEST": "GetFeature",
            "TYPENAMES": "sites",
        },
        cookies=cookies,
        timeout=60,
    )
    # then
    assert _gml_codes(response.content) == ["A-S1"]


@pytest.mark.parametrize(
    "params",
    [
        {"REQUEST": "GetCapabilities"},
        {"VERSION": "2.0.0", "REQUEST": "GetFeature", "TYPENAMES": "units"},
        {},  # the HTML index page
    ],
)
def test_anonymous_is_challenged_for_basic_credentials(wfs_url, portfolio, params):
    # when
    response = requests.get(wfs_url, params=params, timeout=60)
    # then
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Basic realm="GeoAsset WFS"'
    assert _exception(response) == ("NoApplicableCode", None)
    assert "units" not in response.text


def test_a_wrong_password_is_challenged_even_with_anonymous_reads_on(
    wfs_url, portfolio, manager_a, settings
):
    # given
    settings.WFS_ANONYMOUS = True
    settings.WFS_ANONYMOUS_COMPANIES = ["HFCT-A"]
    # when
    response = requests.get(
        wfs_url, params={"REQUEST": "GetCapabilities"}, auth=("manager_a", "wrong"), timeout=60
    )
    # then
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Basic realm="GeoAsset WFS"'


def test_owslib_without_credentials_gets_the_authentication_error(wfs_url, portfolio):
    with pytest.raises(ServiceException, match="Authentication required"):
        WebFeatureService(wfs_url, version="2.0.0", timeout=60)


def test_anonymous_reads_only_the_configured_companies_when_switched_on(
    wfs_url, portfolio, settings
):
    # given
    settings.WFS_ANONYMOUS = True
    settings.WFS_ANONYMOUS_COMPANIES = ["HFCT-B"]
    # when
    service = WebFeatureService(wfs_url, version="2.0.0", timeout=60)
    units = service.getfeature(typename=["geoasset:units"]).read()
    # then
    assert sorted(_gml_codes(units)) == ["B-U1", "B-U2"]
    for layer in LAYER_NAMES:
        response = _get_feature(wfs_url, None, layer, OUTPUTFORMAT="geojson")
        assert set(_geojson_codes(response)) == portfolio.codes_b[layer], layer


def test_anonymous_reads_nothing_when_no_company_is_configured(wfs_url, portfolio, settings):
    # given
    settings.WFS_ANONYMOUS = True
    settings.WFS_ANONYMOUS_COMPANIES = []
    # when
    response = _get_feature(wfs_url, None, "units", RESULTTYPE="hits")
    # then
    assert response.status_code == 200
    assert etree.fromstring(response.content).get("numberMatched") == "0"


def test_a_parent_company_listed_for_anonymous_does_not_open_its_subsidiaries(
    wfs_url, portfolio, settings
):
    # given: the group holds nothing itself
    settings.WFS_ANONYMOUS = True
    settings.WFS_ANONYMOUS_COMPANIES = ["HFCT"]
    # when
    response = _get_feature(wfs_url, None, "sites", RESULTTYPE="hits")
    # then
    assert etree.fromstring(response.content).get("numberMatched") == "0"


# -- bad requests ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "code", "locator"),
    [
        ({"TYPENAMES": "towers"}, "InvalidParameterValue", "typeNames"),
        (
            {
                "TYPENAMES": "units",
                "FILTER": f'<fes:Filter xmlns:fes="{NS["fes"]}"><fes:PropertyIsEqualTo>',
            },
            "OperationParsingFailed",
            "filter",
        ),
        (
            {
                "TYPENAMES": "units",
                "FILTER": (
                    f'<fes:Filter xmlns:fes="{NS["fes"]}"><fes:PropertyIsEqualTo>'
                    "<fes:ValueReference>height</fes:ValueReference><fes:Literal>1</fes:Literal>"
                    "</fes:PropertyIsEqualTo></fes:Filter>"
                ),
            },
            "InvalidParameterValue",
            "filter",
        ),
        ({"TYPENAMES": "units", "SRSNAME": "EPSG:2000"}, "InvalidParameterValue", "srsName"),
        ({"TYPENAMES": "units", "SRSNAME": "EPSG:nonsense"}, "InvalidParameterValue", "srsName"),
        ({"TYPENAMES": "units", "OUTPUTFORMAT": "shapezip"}, "InvalidParameterValue", None),
        (
            # a distance in metres on longitude/latitude storage: refused, not guessed
            {
                "TYPENAMES": "assets",
                "FILTER": (
                    f'<fes:Filter xmlns:fes="{NS["fes"]}" xmlns:gml="{NS["gml"]}"><fes:Beyond>'
                    "<fes:ValueReference>geom</fes:ValueReference>"
                    '<gml:Point srsName="EPSG:4326"><gml:pos>117.25 31.85</gml:pos></gml:Point>'
                    '<fes:Distance uom="m">500</fes:Distance></fes:Beyond></fes:Filter>'
                ),
            },
            "OptionNotSupported",
            "filter",
        ),
    ],
)
def test_bad_requests_get_an_ows_exception_report(
    wfs_url, portfolio, manager_a, params, code, locator
):
    # when
    response = _get(wfs_url, manager_a, VERSION="2.0.0", REQUEST="GetFeature", **params)
    # then
    assert response.status_code == 400
    assert _exception(response)[0] == code
    if locator is not None:
        assert _exception(response)[1] == locator
    root = etree.fromstring(response.content)
    assert _schema_errors(ogc_schema(), root, root.nsmap) == []


# -- GDAL --------------------------------------------------------------------------------------


def _gdal_env() -> dict[str, str]:
    return {
        **os.environ,
        "NO_PROXY": "localhost,127.0.0.1",
        "GDAL_HTTP_TIMEOUT": "60",
        "CPL_DEBUG": "OFF",
    }


def _gdal_source(url: str, user) -> str:
    parts = urlsplit(url)
    return f"WFS:{parts.scheme}://{user.get_username()}:{PASSWORD}@{parts.netloc}{parts.path}"


def test_ogrinfo_lists_the_layers_and_their_feature_counts(wfs_url, portfolio, manager_a):
    # when
    result = subprocess.run(
        ["ogrinfo", "-ro", "-so", "-al", _gdal_source(wfs_url, manager_a)],
        capture_output=True,
        text=True,
        env=_gdal_env(),
        timeout=300,
        check=False,
    )
    # then
    assert result.returncode == 0, result.stderr
    counts = {}
    layer = None
    for line in result.stdout.splitlines():
        if line.startswith("Layer name: "):
            layer = line.removeprefix("Layer name: ")
        elif line.startswith("Feature Count: "):
            counts[layer] = int(line.removeprefix("Feature Count: "))
    assert counts == {f"geoasset:{name}": len(portfolio.codes_a[name]) for name in LAYER_NAMES}
    assert (
        "title: 房源"
        in subprocess.run(
            ["ogrinfo", "-ro", "-so", _gdal_source(wfs_url, manager_a)],
            capture_output=True,
            text=True,
            env=_gdal_env(),
            timeout=300,
            check=True,
        ).stdout
    )


def test_ogr2ogr_downloads_the_units_as_geojson(wfs_url, portfolio, manager_a, tmp_path):
    # given
    out = tmp_path / "units.json"
    # when
    result = subprocess.run(
        ["ogr2ogr", "-f", "GeoJSON", str(out), _gdal_source(wfs_url, manager_a), "units"],
        capture_output=True,
        text=True,
        env=_gdal_env(),
        timeout=300,
        check=False,
    )
    # then
    assert result.returncode == 0, result.stderr
    features = json.loads(out.read_text())["features"]
    assert sorted(f["properties"]["code"] for f in features) == ["A-U1", "A-U2", "A-U3"]
    unit = next(f for f in features if f["properties"]["code"] == "A-U2")
    assert unit["properties"]["status"] == "leased"
    assert unit["properties"]["floor_code"] == "A-F1"
    lon, lat = Unit.objects.get(code="A-U2").geom.coords[0][0]
    assert unit["geometry"]["coordinates"][0][0] == pytest.approx([lon, lat], abs=1e-9)


def test_ogr2ogr_with_basic_auth_from_gdal_config(wfs_url, portfolio, manager_b, tmp_path):
    # given: credentials from GDAL's configuration rather than the URL
    out = tmp_path / "assets.json"
    env = {
        **_gdal_env(),
        "GDAL_HTTP_AUTH": "BASIC",
        "GDAL_HTTP_USERPWD": f"{manager_b.get_username()}:{PASSWORD}",
    }
    # when
    result = subprocess.run(
        ["ogr2ogr", "-f", "GeoJSON", str(out), f"WFS:{wfs_url}", "geoasset:assets"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    # then
    assert result.returncode == 0, result.stderr
    features = json.loads(out.read_text())["features"]
    assert [f["properties"]["code"] for f in features] == ["B-A1"]
    asset = Asset.objects.get(code="B-A1")
    assert features[0]["geometry"]["coordinates"] == pytest.approx(
        list(asset.geom.coords), abs=1e-9
    )


def test_the_schema_copies_load_without_the_network():
    # the vendored schemas are complete: GML, FES, OWS, xlink and xml all resolve locally
    schema = ogc_schema()
    assert {NS["gml"], NS["fes"], NS["ows"], "http://www.w3.org/1999/xlink"} <= set(
        schema.maps.namespaces
    )
    assert all(
        url.startswith(SCHEMAS.parent.parent.as_uri()) or "site-packages/xmlschema" in url
        for ns_schemas in schema.maps.namespaces.values()
        for url in (s.url for s in ns_schemas)
        if url
    )


# -- properties registered by other apps: a unit's lease state (leasing/layers.py) -------------


def test_units_carry_the_lease_state_and_filter_and_validate_on_it(wfs_url, portfolio, manager_a):
    # given: units of company A in each state of availability
    from tests.test_tiles import lease_states

    lease_states(manager_a.memberships.get().company, Floor.objects.get(code="A-F1"))
    today = timezone.localdate()
    describe = _get(wfs_url, manager_a, VERSION="2.0.0", REQUEST="DescribeFeatureType")
    schema = _feature_schema(describe.text)
    leased = (
        '<fes:Filter xmlns:fes="http://www.opengis.net/fes/2.0"><fes:PropertyIsEqualTo>'
        "<fes:ValueReference>availability</fes:ValueReference><fes:Literal>leased</fes:Literal>"
        "</fes:PropertyIsEqualTo></fes:Filter>"
    )
    # when
    every = _get_feature(wfs_url, manager_a, "units", OUTPUTFORMAT="geojson")
    filtered = _get_feature(wfs_url, manager_a, "units", OUTPUTFORMAT="geojson", FILTER=leased)
    gml = _get_feature(wfs_url, manager_a, "units", SORTBY="availability DESC")
    # then
    states = {f["properties"]["code"]: f["properties"] for f in every.json()["features"]}
    assert {code: p["availability"] for code, p in states.items()} == {
        "A-U1": "vacant", "A-U2": "vacant", "A-U3": "vacant",  # status "leased", but no lease
        "AV-vacant": "vacant", "AV-leased": "leased", "AV-expiring": "expiring",
        "AV-reserved": "reserved", "AV-not_leasable": "not_leasable",
    }  # fmt: skip
    assert states["AV-leased"]["lease_end"] == (today + timedelta(days=400)).isoformat()
    assert Decimal(states["AV-leased"]["rent_sqm_month"]) == Decimal("62.5")
    assert states["AV-leased"]["tenant_name"] == "合肥某科技有限公司"
    assert states["AV-vacant"]["lease_end"] is None
    assert _geojson_codes(filtered) == ["AV-leased"]
    root = etree.fromstring(gml.content)
    features = [member[0] for member in root.iterfind("wfs:member", NS)]
    assert [f.findtext("app:availability", namespaces=NS) for f in features][:3] == [
        "vacant",
        "vacant",
        "vacant",
    ]
    for feature in features:
        assert _schema_errors(schema, feature, root.nsmap) == []
    leased_gml = next(f for f in features if f.findtext("app:code", namespaces=NS) == "AV-leased")
    assert leased_gml.findtext("app:lease_end", namespaces=NS) == str(today + timedelta(days=400))
