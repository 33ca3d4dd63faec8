"""/api/web/: the JSON endpoints the web pages call (see web/api/views.py)."""

from django.urls import path

from web.api import views

urlpatterns = [
    path("search/", views.search, name="web-search"),
    path("polygon-stats/", views.polygon_stats, name="web-polygon-stats"),
    path("floors/<int:pk>/units/", views.floor_units, name="web-floor-units"),
    path("candidates/", views.candidates, name="web-candidates"),
    path("cockpit/<slug:widget>/", views.cockpit_widget, name="web-cockpit-widget"),
]
