"""Reads of the spatial graph, scoped by user."""

from django.db.models import QuerySet

from spatial.models import Company, Unit


def companies_visible(*, user) -> QuerySet[Company]:
    return Company.objects.restrict(user, "view")


def company_subtree(*, company: Company) -> QuerySet[Company]:
    return Company.objects.filter(path__startswith=company.path)


def units_outside_floor(*, user) -> QuerySet[Unit]:
    """Units whose polygon is not covered by their floor outline: to be checked by a person."""
    return Unit.objects.restrict(user, "view").filter(outside_floor=True)
