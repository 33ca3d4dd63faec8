"""URLs: web pages at /, the REST API at /api/, the admin at /admin/."""

from django.conf.urls.i18n import i18n_patterns
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from portfolio.api.urls import router as portfolio_router
from spatial.api.urls import router as spatial_router
from web import alerts, pages, views

api_router = DefaultRouter()
api_router.registry.extend(spatial_router.registry)
api_router.registry.extend(portfolio_router.registry)

admin.site.site_header = admin.site.site_title = "GeoAsset 空间资产平台"

urlpatterns = [
    path("api/", include(api_router.urls)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("healthz", views.healthz, name="healthz"),
    # -- WFS 2.0 (spatial/wfs.py) --
    path("wfs/", include("spatial.wfs")),
    # -- vector tiles (spatial/tiles.py) --
    path("tiles/", include("spatial.tiles")),
    # -- import / export (spatial/transfer/) --
    path("api/", include("spatial.transfer.urls")),
    # -- BIM import (bim/) --
    path("api/bim/", include("bim.api.urls")),
    path("bim/", include("bim.urls")),
    # -- leasing (leasing/) --
    path("api/leasing/", include("leasing.api.urls")),
    # -- tracking (tracking/) --
    path("api/tracking/", include("tracking.api.urls")),
    # -- collection (finance/collection/) --
    path("api/finance/", include("finance.collection.api.urls")),
    # -- finance (finance/) --
    path("api/finance/", include("finance.api.urls")),
    # -- invoicing (finance/invoicing/) --
    path("api/finance/", include("finance.invoicing.api.urls")),
    # -- web pages API (web/) --
    path("api/web/", include("web.api.urls")),
]
urlpatterns += i18n_patterns(
    path("", views.home, name="home"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    # -- web pages (web/pages.py) --
    path("map/", pages.map_page, name="web-map"),
    path("buildings/<int:pk>/floors/", pages.floor_plan_page, name="web-floor-plan"),
    path("leases/new/", pages.lease_new_page, name="web-lease-new"),
    path("leases/<int:pk>/", pages.lease_page, name="web-lease"),
    path("tenants/<int:pk>/", pages.tenant_page, name="web-tenant"),
    path("assets/<int:pk>/", pages.asset_page, name="web-asset"),
    path("cockpit/", pages.cockpit_page, name="web-cockpit"),
    path("imports/", pages.imports_page, name="web-imports"),
    path("lists/<slug:name>/", pages.list_page, name="web-list"),
    path("alerts/", alerts.alerts_page, name="web-alerts"),
    prefix_default_language=False,
)
