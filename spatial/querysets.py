"""The one place where what a user may see or change is applied to a queryset."""

from django.db import models
from django.db.models import Q


class RestrictedQuerySet(models.QuerySet):
    def restrict(self, user, action: str = "view") -> "RestrictedQuerySet":
        """Only the rows `user` may `action` ("view", "add", "change", "delete")."""
        from spatial import access

        company_ids = access.company_ids(user, action, self.model)
        if company_ids is access.ALL:
            return self
        field = getattr(self.model, "scope_field", "company")
        if field is None:
            return self if company_ids else self.none()
        condition = Q(**{f"{field}__in": company_ids})
        if getattr(self.model, "scope_null_is_shared", False) and (
            action == "view" or access.has_group_grant(user, action, self.model)
        ):
            # Rows without a company apply to all: everyone sees them, the group changes them.
            condition |= Q(**{f"{field}__isnull": True})
        return self.filter(condition)
