from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PortfolioConfig(AppConfig):
    name = "portfolio"
    verbose_name = _("Asset register")

    def ready(self) -> None:
        # The assets layer of the tiles, WFS and import/export (spatial cannot import us).
        from portfolio import layers

        layers.register()
