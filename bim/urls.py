"""Web pages of the BIM app: the IFC upload page, which follows its job through the API."""

from django.urls import path

from bim import views

urlpatterns = [
    path("imports/", views.import_page, name="bim-import-page"),
]
