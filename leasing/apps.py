from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LeasingConfig(AppConfig):
    name = "leasing"
    verbose_name = _("Leasing")

    def ready(self) -> None:
        # A unit's lease state on the map tiles and in WFS (spatial cannot import leasing).
        from leasing import layers

        layers.register()
