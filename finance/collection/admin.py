"""Admin for collection: read-only views, scoped; receipts are written through the API
(finance.collection.services), never edited here."""

from django.contrib import admin

from finance.admin import ReadOnlyAdmin
from finance.collection.models import (
    CollectionCase,
    DunningNotice,
    DunningPolicy,
    LateFeePolicy,
    Receipt,
)


@admin.register(Receipt)
class ReceiptAdmin(ReadOnlyAdmin):
    list_display = ("number", "tenant", "company", "kind", "method", "received_on", "amount")
    list_filter = ("kind", "method")
    search_fields = ("number", "reference", "tenant__name")
    date_hierarchy = "received_on"


@admin.register(LateFeePolicy)
class LateFeePolicyAdmin(ReadOnlyAdmin):
    list_display = ("company", "lease", "daily_rate", "grace_days", "cap_rate", "active")


@admin.register(DunningPolicy)
class DunningPolicyAdmin(ReadOnlyAdmin):
    list_display = ("name", "company", "active")


@admin.register(DunningNotice)
class DunningNoticeAdmin(ReadOnlyAdmin):
    list_display = ("tenant", "company", "level_number", "action", "amount", "sent_on")
    list_filter = ("action", "channel")
    date_hierarchy = "sent_on"


@admin.register(CollectionCase)
class CollectionCaseAdmin(ReadOnlyAdmin):
    list_display = ("tenant", "company", "kind", "status", "assignee", "opened_on")
    list_filter = ("kind", "status")
