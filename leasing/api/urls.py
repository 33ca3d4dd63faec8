"""Leasing API under /api/leasing/."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from leasing.api import views

router = DefaultRouter()
router.register("tenants", views.TenantViewSet)
router.register("leases", views.LeaseViewSet)
router.register("turnover-reports", views.TurnoverReportViewSet)
router.register("unit-listings", views.UnitListingViewSet)
router.register("stats", views.StatsViewSet, basename="leasing-stats")

urlpatterns = [path("", include(router.urls))]
