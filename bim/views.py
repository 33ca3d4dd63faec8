"""Web page: upload an IFC model and follow the import (the page polls the API)."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from bim import selectors
from spatial import access
from spatial.models import Site, Unit


@login_required
def import_page(request: HttpRequest) -> HttpResponse:
    user = request.user
    sites = [
        site
        for site in Site.objects.restrict(user, "view").only("id", "code", "name", "company_id")
        if access.can(user, "add", Unit, site.company_id)
    ]
    return render(
        request,
        "bim/import.html",
        {"sites": sites, "imports": selectors.ifc_imports_visible(user=user)[:20]},
    )
