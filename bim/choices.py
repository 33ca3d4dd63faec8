"""Choices for BIM imports."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class ImportStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")


class Placement(models.TextChoices):
    """How an import places the model when the file and the user both say something."""

    AUTO = "auto", _("From the file; the anchor only when the file has no location")
    ANCHOR = "anchor", _("At the anchor given, whatever the file says")


class GeorefMethod(models.TextChoices):
    MAP_CONVERSION = "map_conversion", _("IfcMapConversion")
    SITE_REFERENCE = "site_reference", _("IfcSite reference point")
    ANCHOR = "anchor", _("Anchor point given by the user")
    PREVIOUS = "previous", _("Placement of the previous import")
