"""Layers and attributes that other apps add to the map tiles and to WFS.

Spatial sits at the bottom of the app graph: leasing, portfolio and tracking import it, never
the reverse. Yet the map wants a unit's lease state, and an asset or a device is a layer of
its own. So those apps register what they add here, from their AppConfig.ready(), and
`spatial.tiles` and `spatial.wfs` read the registry when they build a tile or a feature type:

- `tile_attributes_register(layer, TileExtension(...))`: extra attributes of a tile layer,
  as SQL over the layer's row (alias `b`: its id is `b.c_fid`, its attributes `b.c_<name>`)
  and LEFT JOINs of their own, with parameters bound per request (today's date);
- `wfs_attributes_register(layer, WFSAttribute(...), ...)`: extra properties of a WFS
  feature type, as queryset annotations built per request;
- `tile_layer_register(layer, min_zoom=...)` and `wfs_layer_register(layer)`: whole layers
  (`spatial.tiles.Layer`, `spatial.wfs.Layer`), scoped like every other by the model's
  `objects.restrict(user, "view")`.

Registration happens once per process, before the first request; registering the same name
twice is a programming error and raises ImproperlyConfigured.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured
from django.db import models

if TYPE_CHECKING:
    from spatial import tiles, wfs


@dataclass(frozen=True)
class TileAttribute:
    """One attribute a tile layer gains: its name, TileJSON type ("String", "Number",
    "Boolean") and the SQL expression that gives it, over the row `b` and the extension's
    joins. The SQL holds no values: those are the extension's parameters."""

    name: str
    kind: str
    sql: str


@dataclass(frozen=True)
class TileExtension:
    """Attributes added to a tile layer, and the joins that feed them.

    `joins` is appended after `FROM (<the layer's rows in the tile>) AS b`; a LATERAL join on
    `b.c_fid` runs once per row of the tile, after the envelope and the user's scope have
    picked the rows. `params()` gives the values of the `%s` placeholders of `joins`, then of
    the attributes' SQL, in the order they appear, on each request."""

    attrs: tuple[TileAttribute, ...]
    joins: str = ""
    params: Callable[[], Sequence[Any]] = field(default=lambda: ())


@dataclass(frozen=True)
class WFSAttribute:
    """A property a WFS feature type gains: a queryset annotation `expression()` (built per
    request, so it may use today's date) and the model field describing its XML Schema type
    (CharField → string, DateField → date, DecimalField → decimal)."""

    name: str
    output_field: models.Field
    expression: Callable[[], models.Expression]
    abstract: str = ""


#: layer name → the extensions registered for it, in registration order
TILE_EXTENSIONS: dict[str, list[TileExtension]] = {}
#: layer name → the extra WFS properties registered for it
WFS_ATTRIBUTES: dict[str, list[WFSAttribute]] = {}


def tile_attributes_register(layer: str, extension: TileExtension) -> None:
    """Add attributes to the tile layer `layer` (a built-in or registered one)."""
    taken = {a.name for e in TILE_EXTENSIONS.get(layer, ()) for a in e.attrs}
    clash = taken & {a.name for a in extension.attrs}
    if clash:
        raise ImproperlyConfigured(f"tile attributes registered twice on {layer}: {clash}")
    TILE_EXTENSIONS.setdefault(layer, []).append(extension)


def tile_extensions(layer: str) -> list[TileExtension]:
    return TILE_EXTENSIONS.get(layer, [])


def wfs_attributes_register(layer: str, *attributes: WFSAttribute) -> None:
    """Add properties to the WFS feature type `layer` (a built-in or registered one)."""
    taken = {a.name for a in WFS_ATTRIBUTES.get(layer, ())}
    clash = taken & {a.name for a in attributes}
    if clash:
        raise ImproperlyConfigured(f"WFS attributes registered twice on {layer}: {clash}")
    WFS_ATTRIBUTES.setdefault(layer, []).extend(attributes)


def wfs_attributes(layer: str) -> list[WFSAttribute]:
    return WFS_ATTRIBUTES.get(layer, [])


def tile_layer_register(layer: tiles.Layer, *, min_zoom: int) -> None:
    """Add a whole tile layer (an app's own model with a `geom` column and a company scope)."""
    from spatial import tiles

    if layer.name in tiles.LAYERS:
        raise ImproperlyConfigured(f"tile layer {layer.name!r} registered twice")
    if tiles.MIN_ZOOM.setdefault(layer.name, min_zoom) != min_zoom:
        raise ImproperlyConfigured(f"tile layer {layer.name!r}: MIN_ZOOM says otherwise")
    tiles.LAYERS[layer.name] = layer


def wfs_layer_register(layer: wfs.Layer) -> None:
    """Add a whole WFS feature type."""
    from spatial import wfs

    if any(known.name == layer.name for known in wfs.LAYERS):
        raise ImproperlyConfigured(f"WFS layer {layer.name!r} registered twice")
    wfs.LAYERS.append(layer)
