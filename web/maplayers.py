"""The layers of the portfolio map, as data: the page draws whatever is listed here.

A layer is either our vector tiles (`kind="tiles"`, `source` a layer of spatial/tiles.py)
or a GeoJSON FeatureCollection from a URL (`kind="geojson"`), optionally polled every
`refresh_seconds` (live positions). Its `style` names a style function in
web/static/web/map.js (`GeoMap.styles`), which may also be added by another script.

Tracking adds geofences and live positions, finance a collection-rate layer, by calling
`layer_register(MapLayer(...))` from their app's `ready()`, e.g.

    layer_register(MapLayer("positions", _("Live positions"), "geojson",
                            "/api/tracking/positions/latest/", style="positions",
                            refresh_seconds=5))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from spatial.tiles import MIN_ZOOM


@dataclass(frozen=True)
class MapLayer:
    id: str
    title: Promise | str
    kind: str  # "tiles" or "geojson"
    source: str  # a tile layer name, or a URL answering GeoJSON
    style: str
    min_zoom: int = 0
    visible: bool = True
    refresh_seconds: int | None = None
    #: "layers" are switched on and off; "thematic" ones belong to a thematic view.
    group: str = "layers"

    def as_config(self) -> dict:
        data = asdict(self)
        data["title"] = str(self.title)
        return data


def _tiles(name: str, title, *, visible: bool = True) -> MapLayer:
    return MapLayer(name, title, "tiles", name, style=name, min_zoom=MIN_ZOOM[name],
                    visible=visible)  # fmt: skip


#: Drawn bottom to top.
LAYERS: list[MapLayer] = [
    _tiles("sites", _("Sites")),
    _tiles("parcels", _("Parcels"), visible=False),
    _tiles("parks", _("Parks")),
    _tiles("roads", _("Roads")),
    _tiles("buildings", _("Buildings")),
    _tiles("units", _("Units")),
    _tiles("assets", _("Assets")),
    MapLayer(
        "candidates",
        _("Idle and low-yield (revitalisation candidates)"),
        "geojson",
        "/api/web/candidates/",
        style="candidates",
        visible=False,
        group="thematic",
    ),
]


def layer_register(layer: MapLayer, *, before: str | None = None) -> None:
    """Add a layer (or replace one of the same id), below the layer `before` or on top."""
    ids = [existing.id for existing in LAYERS]
    if layer.id in ids:
        LAYERS[ids.index(layer.id)] = layer
        return
    LAYERS.insert(ids.index(before) if before in ids else len(LAYERS), layer)


def layers_config() -> list[dict]:
    return [layer.as_config() for layer in LAYERS]


@dataclass(frozen=True)
class MapExtra:
    """More than a layer: a block of the map's side panel (`template`, included in it), a
    script loaded after map.js (`script`, a static path) and config for it under
    `GeoMap.config.extras[id]` (`config(user) -> dict`, e.g. what the user may do).
    Tracking's live alerts panel is one (web/alerts.py)."""

    id: str
    template: str = ""
    script: str = ""
    config: Callable[..., dict] | None = None


#: Panels and scripts added to the map, in page order.
EXTRAS: list[MapExtra] = []


def extra_register(extra: MapExtra) -> None:
    """Add a map extra (or replace one of the same id)."""
    ids = [e.id for e in EXTRAS]
    if extra.id in ids:
        EXTRAS[ids.index(extra.id)] = extra
    else:
        EXTRAS.append(extra)


def extras_config(user) -> dict:
    return {e.id: e.config(user) if e.config else {} for e in EXTRAS}
