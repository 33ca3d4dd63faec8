"""Reads for the web pages, scoped by user."""

from portfolio.models import Asset
from spatial.models import FEATURE_MODELS, Company


def layer_counts(*, user) -> list[dict]:
    rows = []
    for model in (Company, *FEATURE_MODELS, Asset):
        rows.append(
            {
                "name": model._meta.verbose_name_plural,
                "endpoint": f"/api/{_endpoint(model)}/",
                "count": model.objects.restrict(user, "view").count(),
            }
        )
    return rows


def _endpoint(model) -> str:
    return {"company": "companies", "category": "categories"}.get(
        model._meta.model_name, f"{model._meta.model_name}s"
    )
