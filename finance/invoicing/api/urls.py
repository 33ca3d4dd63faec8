"""Invoicing API, mounted under /api/finance/ beside the other finance routes."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from finance.invoicing.api import views

router = DefaultRouter()
router.include_root_view = False  # /api/finance/ is shared with the other finance apps
router.register("invoice-requests", views.InvoiceRequestViewSet, basename="invoice-request")
router.register("invoices", views.InvoiceViewSet, basename="invoice")
router.register("bank-statements", views.BankStatementViewSet, basename="bank-statement")
router.register("bank-lines", views.BankLineViewSet, basename="bank-line")
router.register("vouchers", views.VoucherViewSet, basename="voucher")
router.register("account-codes", views.AccountCodeViewSet, basename="account-code")

urlpatterns = [path("", include(router.urls))]
