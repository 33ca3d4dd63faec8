"""Tracking API under /api/tracking/."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from tracking.api import views

router = DefaultRouter()
router.register("devices", views.DeviceViewSet)
router.register("positions", views.PositionViewSet, basename="tracking-positions")
router.register("geofences", views.GeofenceViewSet)
router.register("rules", views.RuleViewSet)
router.register("alerts", views.AlertViewSet)
router.register("rejected-messages", views.RejectedMessageViewSet)
router.register("work-orders", views.WorkOrderViewSet)
router.register("health-scores", views.HealthScoreViewSet)

urlpatterns = [path("", include(router.urls))]
