"""URLs of import and export, included under /api/ by web/urls.py."""

from django.urls import path

from spatial.transfer import api

urlpatterns = [
    path("import/<str:layer>/", api.LayerImportView.as_view(), name="layer-import"),
    path("export/<str:layer>/", api.LayerExportView.as_view(), name="layer-export"),
]
