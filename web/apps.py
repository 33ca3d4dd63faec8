from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WebConfig(AppConfig):
    name = "web"
    verbose_name = _("Web")

    def ready(self) -> None:
        # Web sits above finance and tracking: it adds their sections, lists, map layers and
        # cockpit widgets to its own registries here (each register() is idempotent).
        from web import alerts, sections, widgets

        sections.register()
        alerts.register()
        widgets.register()
