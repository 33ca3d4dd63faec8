from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BimConfig(AppConfig):
    name = "bim"
    verbose_name = _("BIM models")
