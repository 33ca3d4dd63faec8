"""The one place where what a user may see or change is applied to a queryset."""

from django.db import models


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
        return self.filter(**{f"{field}__in": company_ids})
