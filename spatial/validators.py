"""Validation of geometries and identifiers on write."""

import math
import re

from django.contrib.gis.geos import GEOSGeometry
from django.core.exceptions import ValidationError
from django.utils.deconstruct import deconstructible
from django.utils.translation import gettext_lazy as _
from stdnum.cn import uscc
from stdnum.exceptions import ValidationError as StdnumError

CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


def validate_code(value: str) -> None:
    if not CODE_RE.match(value or ""):
        raise ValidationError(
            _("Use 1-64 letters, digits, '-', '_' or '.', starting with a letter or digit."),
            code="invalid_code",
        )


def validate_uscc(value: str) -> None:
    """Unified social credit code (统一社会信用代码), check digit included."""
    if not value:
        return
    try:
        uscc.validate(value)
    except StdnumError as exc:
        raise ValidationError(
            _("Not a valid unified social credit code: %(reason)s"),
            code="invalid_uscc",
            params={"reason": str(exc)},
        ) from exc


@deconstructible
class GeometryValidator:
    """Refuses empty, invalid, wrongly typed or out-of-range geometries.

    Geometries are stored in EPSG:4326; one in another CRS is checked after
    transformation, as it will be stored.
    """

    def __init__(self, geom_type: str):
        self.geom_type = geom_type

    def __call__(self, value: GEOSGeometry | None) -> None:
        if value is None:
            return
        if value.empty:
            raise ValidationError(_("The geometry is empty."), code="empty_geometry")
        if value.geom_type != self.geom_type:
            raise ValidationError(
                _("Expected a %(expected)s geometry, got a %(actual)s."),
                code="wrong_geometry_type",
                params={"expected": self.geom_type, "actual": value.geom_type},
            )
        geom = value
        if value.srid not in (None, 4326):
            geom = value.transform(4326, clone=True)
        xmin, ymin, xmax, ymax = geom.extent
        if not all(math.isfinite(c) for c in (xmin, ymin, xmax, ymax)):
            raise ValidationError(_("Coordinates must be finite numbers."), code="bad_coordinates")
        if xmin < -180 or xmax > 180 or ymin < -90 or ymax > 90:
            raise ValidationError(
                _(
                    "Coordinates are outside the valid range (longitude -180..180, "
                    "latitude -90..90): %(extent)s. Are longitude and latitude swapped, "
                    "or is this a projected CRS?"
                ),
                code="coordinates_out_of_range",
                params={"extent": f"{xmin:.6f},{ymin:.6f},{xmax:.6f},{ymax:.6f}"},
            )
        if not geom.valid:
            raise ValidationError(
                _("The geometry is invalid: %(reason)s"),
                code="invalid_geometry",
                params={"reason": geom.valid_reason},
            )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GeometryValidator) and other.geom_type == self.geom_type
