from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CollectionConfig(AppConfig):
    name = "finance.collection"
    label = "collection"
    verbose_name = _("Collection")

    def ready(self) -> None:
        # Move-out settlements count what collection has recorded as paid.
        from finance.collection.selectors import lease_paid_towards_charges
        from leasing.selectors import PAID_PROVIDERS

        if lease_paid_towards_charges not in PAID_PROVIDERS:
            PAID_PROVIDERS.append(lease_paid_towards_charges)
