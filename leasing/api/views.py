"""Leasing API: tenants, leases and their workflow, turnover, listings, dashboards."""

from datetime import date

from django.contrib.gis.geos import GEOSException, GEOSGeometry
from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.utils import timezone
from django.utils.translation import gettext as _
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import filters as drf_filters
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from leasing import selectors, services
from leasing.api import serializers
from leasing.models import Lease, LeaseVersion, Tenant, TurnoverReport, UnitListing
from spatial import access
from spatial.api.base import ScopedModelViewSet
from spatial.models import Unit


def _as_of(request) -> date:
    raw = request.query_params.get("as_of")
    if not raw:
        return timezone.localdate()
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise ValidationError({"as_of": [_("Give a date as YYYY-MM-DD.")]}) from exc


def _int(request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValidationError({name: [_("Give a whole number.")]}) from exc


class TenantViewSet(ScopedModelViewSet):
    queryset = Tenant.objects.select_related("company")
    serializer_class = serializers.TenantSerializer
    filter_backends = (DjangoFilterBackend, drf_filters.SearchFilter, drf_filters.OrderingFilter)
    filterset_fields = ("company", "kind", "size", "credit_rating")
    search_fields = ("name", "uscc", "contact_name")
    ordering_fields = ("name", "created_at")


VERSIONS = Prefetch(
    "versions",
    queryset=LeaseVersion.objects.order_by("number").prefetch_related(
        "steps", "free_periods", "charges", "lines__unit"
    ),
)


class LeaseViewSet(ScopedModelViewSet):
    """Lease contracts. Create and change drafts here; the workflow is in the actions."""

    queryset = Lease.objects.select_related("tenant").prefetch_related(VERSIONS)
    serializer_class = serializers.LeaseSerializer
    filter_backends = (DjangoFilterBackend, drf_filters.SearchFilter, drf_filters.OrderingFilter)
    filterset_fields = ("company", "tenant", "status", "use", "renewal_of")
    search_fields = ("number", "tenant__name")
    ordering_fields = ("number", "start_date", "end_date", "created_at")
    http_method_names = ["get", "post", "put", "patch", "head", "options"]

    def _company_of(self, data, instance=None):
        if instance is not None:
            return instance.company_id
        if data.get("company") is not None:
            return data["company"].pk
        units = data.get("units") or []
        return units[0]["unit"].company_id if units else None

    def _change(self) -> Lease:
        lease = self.get_object()
        access.ensure_can(self.request.user, "change", Lease, lease.company_id)
        return lease

    def _done(self, lease: Lease, status: int = 200) -> Response:
        lease = self.get_queryset().get(pk=lease.pk)
        return Response(self.get_serializer(lease).data, status=status)

    def _run(self, service, **kwargs) -> Response:
        lease = self._change()
        result = service(lease, user=self.request.user, today=timezone.localdate(), **kwargs)
        return self._done(result if isinstance(result, Lease) else lease)

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def submit(self, request, pk=None):
        return self._run(services.lease_submit)

    @extend_schema(request=serializers.ReasonSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        data = serializers.ReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._run(services.lease_reject, reason=data.validated_data["reason"])

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        return self._run(services.lease_approve)

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def activate(self, request, pk=None):
        return self._run(services.lease_activate)

    @extend_schema(request=serializers.AmendSerializer)
    @action(detail=True, methods=["post"])
    def amend(self, request, pk=None):
        data = serializers.AmendSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        lease = self._change()
        services.lease_amend(
            lease, user=request.user, today=timezone.localdate(),
            **serializers._plain_terms(dict(data.validated_data)),
        )  # fmt: skip
        return self._done(lease)

    @extend_schema(request=serializers.RenewSerializer)
    @action(detail=True, methods=["post"])
    def renew(self, request, pk=None):
        data = serializers.RenewSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        lease = self._change()
        renewal = services.lease_renew(
            lease, user=request.user, today=timezone.localdate(),
            **serializers._plain_terms(dict(data.validated_data)),
        )  # fmt: skip
        return self._done(renewal, status=201)

    @extend_schema(request=serializers.TerminateSerializer,
                   responses=serializers.SettlementSerializer)  # fmt: skip
    @action(detail=True, methods=["post"])
    def terminate(self, request, pk=None):
        data = serializers.TerminateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        lease = self._change()
        record = services.lease_terminate(
            lease, user=request.user, today=timezone.localdate(), **data.validated_data
        )
        return Response(serializers.SettlementSerializer(record).data)

    @extend_schema(
        methods=["GET"],
        parameters=[
            OpenApiParameter("kind", str, description="expiry, early or breach"),
            OpenApiParameter("move_out_date", str, description="YYYY-MM-DD, the last day"),
            OpenApiParameter("paid", str, description="amount paid so far (元)"),
        ],
        request=None,
        responses=serializers.SettlementSerializer,
    )
    @extend_schema(methods=["POST"], request=serializers.TerminateSerializer,
                   responses=serializers.SettlementSerializer)  # fmt: skip
    @action(detail=True, methods=["get", "post"], url_path="settlement-preview",
            filter_backends=[])  # fmt: skip
    def settlement_preview(self, request, pk=None):
        """The move-out settlement as it would be, without terminating.

        A read: GET with query parameters (read-only users may preview); POST with the
        same fields in the body is kept for clients written against the first version.
        """
        source = request.query_params if request.method == "GET" else request.data
        data = serializers.TerminateSerializer(data=source)
        data.is_valid(raise_exception=True)
        lease = self.get_object()
        v = data.validated_data
        result = selectors.lease_settlement_compute(
            lease=lease, kind=v["kind"], move_out_date=v["move_out_date"], paid=v["paid"]
        )
        return Response(serializers.SettlementSerializer(
            {**result, "kind": v["kind"], "move_out_date": v["move_out_date"]}).data)  # fmt: skip

    @extend_schema(request=serializers.DepositSerializer)
    @action(detail=True, methods=["post"])
    def deposit(self, request, pk=None):
        data = serializers.DepositSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._run(services.lease_deposit_receive, **data.validated_data)

    @extend_schema(
        parameters=[OpenApiParameter("until", str, description="YYYY-MM-DD")], request=None
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def schedule(self, request, pk=None):
        """Billing periods (issue and due dates) with their charge lines and traces."""
        lease = self.get_object()
        until = request.query_params.get("until")
        rows = selectors.lease_schedule(
            lease=lease, until=date.fromisoformat(until) if until else None
        )
        return Response(
            [
                {
                    "start": r["period"].start,
                    "end": r["period"].end,
                    "issue_date": r["period"].issue_date,
                    "due_date": r["period"].due_date,
                    "version": r["period"].version,
                    "lines": serializers.ChargeLineSerializer(r["lines"], many=True).data,
                }
                for r in rows
            ]
        )

    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def versions(self, request, pk=None):
        """Every version of the contract, oldest first."""
        lease = self.get_object()
        return Response(serializers.VersionSerializer(lease.versions.all(), many=True).data)

    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def events(self, request, pk=None):
        """Who submitted, approved, amended, terminated … and when."""
        lease = self.get_object()
        return Response(serializers.EventSerializer(lease.events.all(), many=True).data)


class TurnoverReportViewSet(ScopedModelViewSet):
    queryset = TurnoverReport.objects.select_related("lease")
    serializer_class = serializers.TurnoverReportSerializer
    filter_backends = (DjangoFilterBackend,)
    filterset_fields = ("lease",)
    http_method_names = ["get", "post", "head", "options"]

    def _company_of(self, data, instance=None):
        lease = data.get("lease") or (instance.lease if instance else None)
        return lease.company_id if lease else None


class UnitListingViewSet(ScopedModelViewSet):
    queryset = UnitListing.objects.select_related("unit").order_by("unit_id")  # stable pages
    serializer_class = serializers.UnitListingSerializer
    filter_backends = (DjangoFilterBackend,)
    filterset_fields = ("unit", "vacancy_reason")
    http_method_names = ["get", "post", "put", "patch", "head", "options"]

    def _company_of(self, data, instance=None):
        unit = data.get("unit") or (instance.unit if instance else None)
        return unit.company_id if unit else None


AS_OF = OpenApiParameter("as_of", str, description="YYYY-MM-DD; today when omitted")
BY = OpenApiParameter("by", str, description="site, building, company or all")


class StatsViewSet(viewsets.ViewSet):
    """Dashboard and map reads, scoped to the user's companies."""

    @extend_schema(parameters=[AS_OF, BY, OpenApiParameter("polygon", str,
                   description="GeoJSON or WKT polygon in EPSG:4326")])  # fmt: skip
    @action(detail=False, methods=["get"])
    def occupancy(self, request):
        """Occupancy by area and by count per site, building or company, or in a polygon."""
        polygon = None
        if raw := request.query_params.get("polygon"):
            try:
                polygon = GEOSGeometry(raw, srid=4326)
            except (GEOSException, ValueError) as exc:
                raise ValidationError({"polygon": [_("Not a GeoJSON or WKT geometry.")]}) from exc
            if polygon.geom_type not in ("Polygon", "MultiPolygon"):
                raise ValidationError({"polygon": [_("Give a polygon.")]})
        by = request.query_params.get("by", "all" if polygon else "site")
        return Response(
            selectors.occupancy(user=request.user, as_of=_as_of(request), by=by, polygon=polygon)
        )

    @extend_schema(parameters=[AS_OF, OpenApiParameter("months", int)])
    @action(detail=False, methods=["get"])
    def expiries(self, request):
        """Lease expiries per month (the expiry density)."""
        return Response(
            selectors.lease_expiries_by_month(
                user=request.user, as_of=_as_of(request), months=_int(request, "months", 60)
            )
        )

    @extend_schema(parameters=[AS_OF, BY])
    @action(detail=False, methods=["get"])
    def wale(self, request):
        """Weighted average lease expiry, in years, by rent and by area."""
        by = request.query_params.get("by", "all")
        if by not in ("all", *selectors.GROUPS):
            raise ValidationError({"by": [_("Group by site, building, company or all.")]})
        return Response(selectors.wale(user=request.user, as_of=_as_of(request), by=by))

    @extend_schema(parameters=[AS_OF, BY])
    @action(detail=False, methods=["get"], url_path="vacancy-loss")
    def vacancy_loss(self, request):
        """Vacant area × asking rent × days vacant."""
        by = request.query_params.get("by", "site")
        if by not in ("all", *selectors.GROUPS):
            raise ValidationError({"by": [_("Group by site, building, company or all.")]})
        return Response(selectors.vacancy_loss(user=request.user, as_of=_as_of(request), by=by))

    @extend_schema(parameters=[AS_OF, OpenApiParameter("site", int)])
    @action(detail=False, methods=["get"], url_path="unit-rents")
    def unit_rents(self, request):
        """Headline rent per m² per month of each leased unit."""
        site = request.query_params.get("site")
        return Response(
            selectors.unit_rents(
                user=request.user, as_of=_as_of(request), site=int(site) if site else None
            )
        )

    @extend_schema(parameters=[AS_OF, OpenApiParameter("days", int)])
    @action(detail=False, methods=["get"])
    def renewals(self, request):
        """Leases expiring within `days` (90), with renewal risk and a proposed rent."""
        return Response(
            selectors.leases_expiring(
                user=request.user, as_of=_as_of(request), within_days=_int(request, "days", 90)
            )
        )

    @extend_schema(parameters=[AS_OF, OpenApiParameter("site", int),
                               OpenApiParameter("floor", int)])  # fmt: skip
    @action(detail=False, methods=["get"])
    def availability(self, request):
        """Each unit's availability: vacant (reason, days), reserved, leased, expiring."""
        units = Unit.objects.restrict(request.user, "view")
        site, floor = request.query_params.get("site"), request.query_params.get("floor")
        if not site and not floor:
            raise ValidationError({"site": [_("Give a site or a floor.")]})
        if site:
            units = units.filter(site_id=_int(request, "site", 0))
        if floor:
            units = units.filter(floor_id=_int(request, "floor", 0))
        as_of = _as_of(request)
        rows = selectors.units_availability(user=request.user, as_of=as_of, units=units)
        return Response([selectors.availability_of(u, as_of=as_of) for u in rows.order_by("code")])
