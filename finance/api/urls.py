"""Finance API under /api/finance/."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from finance.api import views

router = DefaultRouter()
router.register("bills", views.BillViewSet)
router.register("billing-runs", views.BillingRunViewSet)
router.register("abatements", views.AbatementViewSet)
router.register("meters", views.MeterViewSet)
router.register("meter-readings", views.MeterReadingViewSet)
router.register("tariffs", views.TariffViewSet)
router.register("charge-items", views.ChargeItemViewSet)

urlpatterns = [path("", include(router.urls))]
