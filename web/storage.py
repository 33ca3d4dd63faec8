"""Static files storage: WhiteNoise's compressed, hashed names, minus one Django quirk."""

from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticFilesStorage(CompressedManifestStaticFilesStorage):
    """Leaves `url(%23id)` alone.

    Inline SVG icons in vendored CSS (Leaflet-Geoman's toolbar) reference their own masks as
    `url(%23polygon-b)` inside a `data:` URI. Django's manifest storage takes that for a file
    and rewrites it to `url("#polygon-b#polygon-b")`, which breaks the icon. An escaped
    fragment never names a static file, so such URLs are kept as written.
    """

    def url_converter(self, name, hashed_files, template=None, *args, **kwargs):
        convert = super().url_converter(name, hashed_files, template, *args, **kwargs)

        def converter(matchobj):
            if matchobj.groupdict()["url"].startswith("%23"):
                return matchobj.groupdict()["matched"]
            return convert(matchobj)

        return converter
