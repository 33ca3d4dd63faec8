"""Writes to the asset register. Each runs in a transaction, validates, then writes."""

import hashlib
import re
from datetime import date
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from portfolio import coding
from portfolio.choices import TagKind
from portfolio.models import Asset, AssetTag, Category, CodeSequence, CodingRule, Document
from spatial.models import FEATURE_MODELS, Building, Company, Feature, Floor, Unit

# -- asset codes -----------------------------------------------------------------------------


def _category_lineage(category: Category) -> list[int]:
    ids, node = [], category
    while node is not None:
        ids.append(node.pk)
        node = node.parent
    return ids


def coding_rule_for(*, company: Company, category: Category) -> CodingRule | None:
    """The most specific active rule: own company over all companies, nearer category first."""
    lineage = _category_lineage(category)
    company_ids = [int(p) for p in company.path.strip("/").split("/") if p]
    rules = CodingRule.objects.filter(
        Q(company__isnull=True) | Q(company_id__in=company_ids),
        Q(category__isnull=True) | Q(category_id__in=lineage),
        is_active=True,
    )

    def rank(rule: CodingRule) -> tuple:
        company_depth = company_ids.index(rule.company_id) + 1 if rule.company_id else 0
        category_depth = len(lineage) - lineage.index(rule.category_id) if rule.category_id else 0
        return (company_depth, category_depth, rule.priority, -rule.pk)

    return max(rules, key=rank, default=None)


def asset_code_issue(*, company: Company, category: Category, on: date) -> str:
    """Issue the next code. Must run inside the transaction that stores the asset, so a
    rollback also returns the number: codes have neither gaps nor duplicates."""
    rule = coding_rule_for(company=company, category=category)
    if rule is None:
        raise ValidationError(
            {"code": [_("No coding rule applies to this company and category; give a code.")]}
        )
    parsed = coding.parse_pattern(rule.pattern)
    key, filled = coding.render(
        rule.pattern, company_code=company.code, category_code=category.code, on=on
    )
    # Create the counter row if missing, then lock it: concurrent issuers queue here.
    CodeSequence.objects.bulk_create([CodeSequence(rule=rule, key=key)], ignore_conflicts=True)
    seq = CodeSequence.objects.select_for_update().get(rule=rule, key=key)
    seq.last_value += 1
    seq.save(update_fields=["last_value"])
    return coding.format_code(filled, seq.last_value, parsed.seq_width)


# -- location --------------------------------------------------------------------------------

LOCATION_FIELDS = ("site", "building", "floor", "unit", "road", "park", "parcel")


def _apply_location(asset: Asset) -> None:
    """Fill the nodes above the most specific one given; refuse ones that disagree."""
    errors: dict[str, list[str]] = {}
    if asset.unit_id:
        unit = Unit.objects.only("floor_id", "building_id", "site_id").get(pk=asset.unit_id)
        expected = {
            "floor_id": unit.floor_id,
            "building_id": unit.building_id,
            "site_id": unit.site_id,
        }
    elif asset.floor_id:
        floor = Floor.objects.select_related("building").get(pk=asset.floor_id)
        expected = {"building_id": floor.building_id, "site_id": floor.building.site_id}
    elif asset.building_id:
        expected = {"site_id": Building.objects.get(pk=asset.building_id).site_id}
    else:
        expected = {}
        for field in ("road", "park", "parcel"):
            node_id = getattr(asset, f"{field}_id")
            if node_id:
                model = asset._meta.get_field(field).related_model
                site_id = model.objects.filter(pk=node_id).values_list("site_id", flat=True).first()
                if site_id:
                    expected["site_id"] = site_id
    for attr, value in expected.items():
        current = getattr(asset, attr)
        if current and current != value:
            errors.setdefault(attr.removesuffix("_id"), []).append(
                _("Does not contain the asset's more specific location.")
            )
        else:
            setattr(asset, attr, value)
    if errors:
        raise ValidationError(errors)
    if asset.geom is None:
        asset.geom = _location_point(asset)


def _location_point(asset: Asset):
    for field in ("unit", "floor", "building", "road", "park", "parcel", "site"):
        node_id = getattr(asset, f"{field}_id")
        if node_id:
            model = asset._meta.get_field(field).related_model
            geom = model.objects.filter(pk=node_id).values_list("geom", flat=True).first()
            if geom is not None:
                return geom.point_on_surface
    return None


# -- assets ----------------------------------------------------------------------------------


def _apply_category_defaults(asset: Asset) -> None:
    if asset.category_id is None:
        return
    category = asset.category
    if asset.useful_life_months is None:
        asset.useful_life_months = category.useful_life_months
    if asset.residual_rate is None:
        asset.residual_rate = category.residual_rate


@transaction.atomic
def asset_create(*, today: date, tags: list[dict] | None = None, **fields: Any) -> Asset:
    """Register an asset: defaults from its category, code from the coding rules if none is
    given, location completed up the spatial graph, tags attached; all or nothing."""
    asset = Asset(**fields)
    _apply_category_defaults(asset)
    _apply_location(asset)
    if not asset.code:
        asset.full_clean(exclude=["code"])
        asset.code = asset_code_issue(company=asset.company, category=asset.category, on=today)
    asset.full_clean()
    asset.save()
    for tag in tags or []:
        asset_tag_add(asset=asset, **tag)
    return asset


@transaction.atomic
def asset_update(asset: Asset, **fields: Any) -> Asset:
    asset = Asset.objects.select_for_update().get(pk=asset.pk)
    location_changed = any(f in fields for f in LOCATION_FIELDS)
    for name, value in fields.items():
        setattr(asset, name, value)
    if location_changed:
        # Fields above the new node are derived again, not kept from the old place.
        given = {f for f in LOCATION_FIELDS if fields.get(f) is not None}
        for f in LOCATION_FIELDS:
            if f not in given:
                setattr(asset, f"{f}_id", None)
        if "geom" not in fields:
            asset.geom = None
    _apply_location(asset)
    asset.full_clean()
    asset.save()
    return asset


# -- tags ------------------------------------------------------------------------------------

# Lazy: built at import, translated when the error is shown, in the request's language.
_TAG_FORMATS = {
    TagKind.RFID_EPC: (
        re.compile(r"^(?:[0-9A-F]{4}){2,32}$"),
        gettext_lazy(
            "An EPC is hexadecimal, a whole number of 16-bit words (e.g. 24 digits for EPC-96)."
        ),
    ),
    TagKind.NFC_UID: (
        re.compile(r"^(?:[0-9A-F]{8}|[0-9A-F]{14}|[0-9A-F]{20})$"),
        gettext_lazy("An NFC UID is 4, 7 or 10 bytes in hexadecimal."),
    ),
    TagKind.BARCODE: (
        re.compile(r"^[\x20-\x7E]{1,80}$"),
        gettext_lazy("A barcode holds 1-80 printable ASCII characters."),
    ),
    TagKind.QR: (
        re.compile(r"^\S.{0,127}$", re.S),
        gettext_lazy("A QR payload holds 1-128 characters."),
    ),
}


def tag_normalize(kind: str, value: str) -> str:
    value = (value or "").strip()
    if kind in (TagKind.RFID_EPC, TagKind.NFC_UID):
        value = value.replace(":", "").replace(" ", "").replace("-", "").upper()
    return value


@transaction.atomic
def asset_tag_add(*, asset: Asset, kind: str, value: str) -> AssetTag:
    value = tag_normalize(kind, value)
    if kind not in TagKind.values:
        raise ValidationError({"kind": [_("Unknown tag kind %(kind)r.") % {"kind": kind}]})
    pattern, message = _TAG_FORMATS[kind]
    if not pattern.match(value):
        raise ValidationError({"value": [message]})
    taken = _("This tag is already on another asset.")
    # Checked here, not by full_clean(): a two-field unique constraint reports its
    # violation without a field name, and the error belongs on `value`.
    if AssetTag.objects.filter(kind=kind, value=value).exists():
        raise ValidationError({"value": [taken]})
    tag = AssetTag(asset=asset, kind=kind, value=value)
    tag.full_clean()
    try:
        with transaction.atomic():
            tag.save()
    except IntegrityError as exc:  # a concurrent writer took the same value
        raise ValidationError({"value": [taken]}) from exc
    return tag


# -- documents -------------------------------------------------------------------------------

#: Accepted document formats: extension → (MIME type, magic prefixes).
DOCUMENT_FORMATS: dict[str, tuple[str, tuple[bytes, ...]]] = {
    "pdf": ("application/pdf", (b"%PDF-",)),
    "jpg": ("image/jpeg", (b"\xff\xd8\xff",)),
    "jpeg": ("image/jpeg", (b"\xff\xd8\xff",)),
    "png": ("image/png", (b"\x89PNG\r\n\x1a\n",)),
    "tif": ("image/tiff", (b"II*\x00", b"MM\x00*")),
    "tiff": ("image/tiff", (b"II*\x00", b"MM\x00*")),
    "ofd": ("application/ofd", (b"PK\x03\x04",)),  # 版式文档 (e-invoices): a zip container
    "dwg": ("image/vnd.dwg", (b"AC10",)),
    "dxf": ("image/vnd.dxf", (b"0\r\nSECTION", b"0\nSECTION", b"  0\r\nSECTION", b"  0\nSECTION")),
    "xlsx": (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        (b"PK\x03\x04",),
    ),
    "docx": (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        (b"PK\x03\x04",),
    ),
}

ATTACHABLE_MODELS = (Asset, *FEATURE_MODELS)


def document_check_file(upload: UploadedFile) -> tuple[str, str, int]:
    """Return (mime type, sha256, size) or raise naming the `file` field."""
    size = upload.size or 0
    limit = settings.DOCUMENT_MAX_BYTES
    if size == 0:
        raise ValidationError({"file": [_("The file is empty.")]})
    if size > limit:
        raise ValidationError(
            {
                "file": [
                    _("The file is %(size)d bytes; the limit is %(limit)d bytes.")
                    % {"size": size, "limit": limit}
                ]
            }
        )
    ext = upload.name.rsplit(".", 1)[-1].lower() if "." in upload.name else ""
    if ext not in DOCUMENT_FORMATS:
        raise ValidationError(
            {
                "file": [
                    _("Files of type .%(ext)s are not accepted; use one of: %(allowed)s.")
                    % {"ext": ext or "?", "allowed": ", ".join(sorted(DOCUMENT_FORMATS))}
                ]
            }
        )
    mime, magics = DOCUMENT_FORMATS[ext]
    upload.seek(0)
    head = upload.read(16)
    if not any(head.startswith(m) for m in magics):
        raise ValidationError(
            {
                "file": [
                    _("The content is not a .%(ext)s file (its first bytes do not match).")
                    % {"ext": ext}
                ]
            }
        )
    upload.seek(0)
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return mime, digest.hexdigest(), size


@transaction.atomic
def document_attach(
    *, target: Asset | Feature, upload: UploadedFile, uploaded_by=None, **fields: Any
) -> Document:
    if not isinstance(target, ATTACHABLE_MODELS):
        raise ValidationError({"target": [_("Documents attach to assets and spatial features.")]})
    mime, sha256, size = document_check_file(upload)
    document = Document(
        content_type=ContentType.objects.get_for_model(target),
        object_id=target.pk,
        company_id=target.company_id,
        original_name=upload.name[:255],
        mime_type=mime,
        size=size,
        sha256=sha256,
        uploaded_by=uploaded_by,
        **fields,
    )
    document.full_clean(exclude=["file"])
    # The file is written only after validation; a failed insert removes it again.
    document.file.save(upload.name.rsplit("/", 1)[-1], upload, save=False)
    try:
        document.save()
    except (IntegrityError, OSError):
        document.file.delete(save=False)
        raise
    return document
