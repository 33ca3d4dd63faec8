"""Collection API, mounted under /api/finance/ beside billing's and invoicing's routes."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from finance.collection.api import views

router = SimpleRouter()  # no API root: billing's router already answers /api/finance/
router.register("receipts", views.ReceiptViewSet)
router.register("allocations", views.AllocationViewSet)
router.register("late-fee-policies", views.LateFeePolicyViewSet)
router.register("late-fee-accruals", views.LateFeeAccrualViewSet)
router.register("dunning-policies", views.DunningPolicyViewSet)
router.register("dunning-notices", views.DunningNoticeViewSet)
router.register("collection-cases", views.CollectionCaseViewSet)

urlpatterns = [
    path("", include(router.urls)),
    path("aging/", views.AgingView.as_view(), name="collection-aging"),
    path("collection-rate/", views.CollectionRateView.as_view(), name="collection-rate"),
    path("balances/", views.BalancesView.as_view(), name="collection-balances"),
]
