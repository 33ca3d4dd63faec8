"""Choices for tenants, leases, rent terms and move-outs."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class TenantKind(models.TextChoices):
    COMPANY = "company", _("Company")
    INDIVIDUAL = "individual", _("Individual")


class TenantSize(models.TextChoices):
    MICRO = "micro", _("Micro")
    SMALL = "small", _("Small")
    MEDIUM = "medium", _("Medium")
    LARGE = "large", _("Large")


class CreditRating(models.TextChoices):
    A = "A", _("A: pays on time")
    B = "B", _("B: occasionally late")
    C = "C", _("C: often late")
    D = "D", _("D: in arrears")


class LeaseStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SUBMITTED = "submitted", _("Submitted")
    APPROVED = "approved", _("Approved")
    ACTIVE = "active", _("Active")
    EXPIRED = "expired", _("Expired")
    TERMINATED = "terminated", _("Terminated")


#: Statuses whose lease lines hold their units (the exclusion constraint applies to them).
BLOCKING_STATUSES = frozenset(
    {LeaseStatus.APPROVED, LeaseStatus.ACTIVE, LeaseStatus.EXPIRED, LeaseStatus.TERMINATED}
)


class PaymentCycle(models.IntegerChoices):
    MONTHLY = 1, _("Monthly")
    QUARTERLY = 3, _("Quarterly")
    HALF_YEARLY = 6, _("Half-yearly")
    YEARLY = 12, _("Yearly")


class PriceBasis(models.TextChoices):
    SQM_DAY = "sqm_day", _("Per m² per day")
    SQM_MONTH = "sqm_month", _("Per m² per month")
    MONTH_FIXED = "month_fixed", _("Fixed amount per month")


class MonthlyBasis(models.TextChoices):
    """How a daily price becomes a month's rent."""

    DAYS_365_12 = "365_12", _("365/12 days a month")
    ACTUAL_DAYS = "actual", _("Actual days in the month")


class ChargeItem(models.TextChoices):
    RENT = "rent", _("Rent")
    PROPERTY_FEE = "property_fee", _("Property fee")
    PARKING = "parking", _("Parking")
    ADVERTISING = "advertising", _("Advertising space")
    OTHER = "other", _("Other charge")


class TerminationKind(models.TextChoices):
    EXPIRY = "expiry", _("Normal expiry")
    EARLY = "early", _("Early termination")
    BREACH = "breach", _("Termination for breach")


class VacancyReason(models.TextChoices):
    NEVER_LEASED = "never_leased", _("Never leased")
    LEASE_EXPIRED = "lease_expired", _("Lease expired, not renewed")
    EARLY_TERMINATION = "early_termination", _("Early termination")
    BREACH = "breach", _("Tenant evicted for breach")
    RENOVATION = "renovation", _("Under renovation")
    PRICING = "pricing", _("Asking rent above market")
    POOR_CONDITION = "poor_condition", _("Poor condition or location")
    OTHER = "other", _("Other")


class Availability(models.TextChoices):
    VACANT = "vacant", _("Vacant")
    RESERVED = "reserved", _("Reserved")
    LEASED = "leased", _("Leased")
    EXPIRING = "expiring", _("Expiring within 90 days")
    NOT_LEASABLE = "not_leasable", _("Not leasable")


class LeaseEventKind(models.TextChoices):
    CREATED = "created", _("Created")
    UPDATED = "updated", _("Draft changed")
    SUBMITTED = "submitted", _("Submitted for approval")
    REJECTED = "rejected", _("Rejected back to draft")
    APPROVED = "approved", _("Approved")
    ACTIVATED = "activated", _("Activated")
    AMENDED = "amended", _("Amended")
    RENEWED = "renewed", _("Renewed")
    TERMINATED = "terminated", _("Terminated")
    EXPIRED = "expired", _("Expired")
    DEPOSIT_RECEIVED = "deposit_received", _("Deposit received")
    PERIOD_CLOSED = "period_closed", _("Periods closed")
