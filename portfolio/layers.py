"""The asset register's layers: assets on the map tiles, in WFS, and in import/export.

Spatial cannot import portfolio (portfolio depends on spatial), so `PortfolioConfig.ready()`
calls `register()`, which adds the `assets` layer (assets at their own point) to the tiles
(spatial.tiles), to WFS (spatial.wfs) and to import/export (spatial.transfer).
"""

from __future__ import annotations

from spatial import layers

ASSETS_MIN_ZOOM = 15  # an asset is a pixel or less below this zoom


def _tile_layer():
    from spatial import tiles

    return tiles.Layer(
        "assets",
        "portfolio.Asset",
        "资产: assets at their own position, with category, status and location",
        (
            *tiles.COMMON,
            tiles.Attr("category_code", "category__code"),
            tiles.Attr("status", "status"),
            tiles.Attr("site_id", "site_id", "Number"),
            tiles.Attr("building_id", "building_id", "Number"),
            tiles.Attr("floor_id", "floor_id", "Number"),
            tiles.Attr("unit_id", "unit_id", "Number"),
            tiles.Attr("level", "floor__level", "Number"),
        ),
        {
            "company": "company",
            "site": "site_id",
            "building": "building_id",
            "floor": "floor_id",
            "status": "status",
        },
        simplify=False,
    )


def _wfs_layer():
    from portfolio.models import Asset
    from spatial import wfs

    return wfs.Layer(
        name="assets",
        model=Asset,
        title="资产",
        abstract="有定位的资产、设备与车辆（点），含分类（GB/T 14885）与状态。"
        "Assets: located assets, equipment and vehicles (point) with category and status.",
        keywords=("资产", "设备", "asset"),
        attributes=(
            ("category_code", "category.code"),
            ("category_name", "category.name"),
            ("status", None),
            ("site_code", "site.code"),
            ("building_code", "building.code"),
            ("floor_code", "floor.code"),
            ("unit_code", "unit.code"),
            ("custodian_department", None),
            ("brand", None),
            ("model_number", None),
            ("in_service_date", None),
        ),
        located_only=True,
    )


# -- import and export ----------------------------------------------------------------------

#: Chinese headers of asset ledgers (资产台账) and their columns.
ASSET_ALIASES = {
    "code": ("资产编码", "资产编号", "编码", "编号"),
    "name": ("资产名称", "名称"),
    "company_code": ("权属单位编码", "公司编码", "单位编码"),
    "category_code": ("分类编码", "资产分类编码", "资产分类", "分类代码"),
    "status": ("状态", "资产状态", "使用状态"),
    "custodian_department": ("使用部门", "管理部门"),
    "custodian": ("保管人", "责任人", "使用人"),
    "brand": ("品牌",),
    "model_number": ("型号", "规格型号"),
    "serial_number": ("序列号", "出厂编号"),
    "site_code": ("园区编码", "项目编码"),
    "building_code": ("楼宇编码", "楼栋编码"),
    "floor_code": ("楼层编码",),
    "unit_code": ("房源编码", "房间编码", "空间编码"),
    "acquisition_cost": ("原值", "资产原值", "购置金额"),
    "acquisition_date": ("购置日期", "取得日期"),
    "in_service_date": ("启用日期", "投入使用日期"),
    "remarks": ("备注", "说明"),
}
#: Shapefile field names (at most 10 characters) of the asset columns.
ASSET_SHP_NAMES = {
    "category_code": "cat_code",
    "custodian_department": "cust_dept",
    "model_number": "model_no",
    "serial_number": "serial_no",
    "acquisition_cost": "acq_cost",
    "acquisition_date": "acq_date",
    "in_service_date": "in_service",
    "floor_code": "floor_code",
    "unit_code": "unit_code",
}
#: Text and value columns: written as they are, after parsing by the model field.
VALUE_FIELDS = (
    "name", "status", "custodian_department", "custodian", "brand", "model_number",
    "serial_number", "acquisition_cost", "acquisition_date", "in_service_date", "remarks",
)  # fmt: skip
#: Location columns: a code of the node the asset sits at (the most specific one wins).
LOCATIONS = ("site", "building", "floor", "unit")


def _transfer_layer():
    from portfolio.api.filters import AssetFilterSet
    from portfolio.models import Asset, Category
    from spatial.models import Building, Company, Floor, Site, Unit
    from spatial.transfer import layers as transfer

    meta = Asset._meta
    columns = (
        transfer.Column("code", "code", False, meta.get_field("code"),
                        aliases=ASSET_ALIASES["code"]),  # empty: issued by the coding rules
        transfer.column_for(meta.get_field("name"), required=True,
                            aliases=ASSET_ALIASES["name"]),
        transfer.ref_column("company_code", Company, aliases=ASSET_ALIASES["company_code"]),
        transfer.ref_column("category_code", Category, required=True,
                            aliases=ASSET_ALIASES["category_code"]),
        *(transfer.ref_column(f"{name}_code", model, aliases=ASSET_ALIASES[f"{name}_code"])
          for name, model in zip(LOCATIONS, (Site, Building, Floor, Unit), strict=True)),
        *(transfer.column_for(meta.get_field(name), aliases=ASSET_ALIASES[name])
          for name in VALUE_FIELDS if name != "name"),
    )  # fmt: skip
    export_columns = (
        ("code", "code"), ("name", "name"), ("company_code", "company__code"),
        ("category_code", "category__code"), ("status", "status"),
        ("custodian_department", "custodian_department"), ("custodian", "custodian"),
        ("brand", "brand"), ("model_number", "model_number"),
        ("serial_number", "serial_number"),
        *((f"{name}_code", f"{name}__code") for name in LOCATIONS),
        ("acquisition_cost", "acquisition_cost"), ("acquisition_date", "acquisition_date"),
        ("in_service_date", "in_service_date"), ("remarks", "remarks"),
    )  # fmt: skip
    return transfer.RegisteredLayer(
        name="assets",
        model=Asset,
        geom_type="Point",
        columns=columns,
        export_columns=export_columns,
        filterset=AssetFilterSet,
        row_write=asset_row_write,
    )


def asset_row_write(values: dict, geom, *, user, company, today) -> str:
    """Write one imported asset through portfolio.services: a stored code is updated with
    asset_update, a new or empty one created with asset_create (an empty code is issued by
    the coding rules). References are codes, looked up among what `user` may see; the user
    must be allowed to add (or change) assets of the company. Returns "create" or "update";
    raises ValidationError keyed by field."""
    from django.contrib.gis.geos import GEOSGeometry
    from django.core.exceptions import ValidationError
    from django.utils.translation import gettext as _

    from portfolio import services
    from portfolio.models import Asset, Category
    from spatial import access
    from spatial.models import Building, Company, Floor, Site, Unit

    def visible(model):
        return model.objects.all() if user is None else model.objects.restrict(user, "view")

    def find(model, column: str, label):
        code = values.get(column)
        if not code:
            return None
        found = visible(model).filter(code=code).first()
        if found is None:
            raise ValidationError(
                {column: [_("Unknown %(model)s code “%(code)s”.") % {"model": label, "code": code}]}
            )
        return found

    fields: dict = {}
    errors: dict[str, list] = {}
    for column, model, field_name in (
        ("company_code", Company, "company"),
        ("category_code", Category, "category"),
        ("site_code", Site, "site"),
        ("building_code", Building, "building"),
        ("floor_code", Floor, "floor"),
        ("unit_code", Unit, "unit"),
    ):
        if column not in values:
            continue
        try:
            fields[field_name] = find(model, column, model._meta.verbose_name)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    for name in VALUE_FIELDS:
        if name in values and values[name] is not None:
            fields[name] = values[name]
    if geom is not None:
        fields["geom"] = GEOSGeometry(memoryview(geom.wkb), srid=4326)
    code = values.get("code")
    stored = Asset.objects.select_for_update().filter(code=code).first() if code else None
    if stored is None:
        owner = fields.get("company") or company or _node_company(fields)
        if owner is None:
            raise ValidationError({"company_code": [_("This field is required.")]})
        fields["company"] = owner
        if user is not None and not access.can(user, "add", Asset, owner.pk):
            raise ValidationError(
                {"company_code": [_("You may not add %(model)s records of this company.")
                                  % {"model": Asset._meta.verbose_name}]}
            )  # fmt: skip
        services.asset_create(today=today, code=code or "", **fields)
        return "create"
    if user is not None and not access.can(user, "change", Asset, stored.company_id):
        raise ValidationError(
            {"code": [_("The code “%(code)s” belongs to a %(model)s you may not change.")
                      % {"code": code, "model": Asset._meta.verbose_name}]}
        )  # fmt: skip
    owner = fields.get("company") or company
    if owner is not None and owner.pk != stored.company_id:
        if user is not None and not access.can(user, "change", Asset, owner.pk):
            raise ValidationError(
                {"company_code": [_("You may not move %(model)s records to this company.")
                                  % {"model": Asset._meta.verbose_name}]}
            )  # fmt: skip
        fields["company"] = owner
    services.asset_update(stored, **fields)
    return "update"


def _node_company(fields: dict):
    """A new asset without a company takes the company of the node it sits at."""
    for name in reversed(LOCATIONS):
        node = fields.get(name)
        if node is not None:
            return node.company
    return None


def register() -> None:
    """Called once from PortfolioConfig.ready()."""
    from spatial.transfer import layers as transfer

    layers.tile_layer_register(_tile_layer(), min_zoom=ASSETS_MIN_ZOOM)
    layers.wfs_layer_register(_wfs_layer())
    transfer.layer_register(_transfer_layer(), shp_names=ASSET_SHP_NAMES)
