"""What every API endpoint shares: scoped querysets, scoped related fields, history."""

from django.db import models
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from spatial import access
from spatial.validators import GeometryValidator


class ScopedRelatedField(serializers.PrimaryKeyRelatedField):
    """A reference by id that only resolves to rows the requesting user may see."""

    def get_queryset(self):
        queryset = super().get_queryset()
        request = self.context.get("request")
        if request is None:
            return queryset
        return queryset.restrict(request.user, "view")


class ScopedSerializerMixin:
    """Turns every foreign key into a ScopedRelatedField.

    Geometry checks are left to the services, which first promote a Polygon to the
    MultiPolygon a column may hold, then validate with the same messages.
    """

    serializer_related_field = ScopedRelatedField

    def get_fields(self):
        fields = super().get_fields()
        for field in fields.values():
            if any(isinstance(v, GeometryValidator) for v in field.validators):
                field.validators = [
                    v for v in field.validators if not isinstance(v, GeometryValidator)
                ]
        return fields


class HistoryRecordSerializer(serializers.Serializer):
    history_id = serializers.IntegerField()
    history_date = serializers.DateTimeField()
    history_type = serializers.CharField()
    user = serializers.CharField(allow_null=True)
    reason = serializers.CharField(allow_null=True)
    changes = serializers.DictField()


def history_records(instance: models.Model) -> list[dict]:
    """Who changed what and when, newest first, each with the fields that changed."""
    records = list(instance.history.select_related("history_user").order_by("-history_date"))
    out = []
    for index, record in enumerate(records):
        previous = records[index + 1] if index + 1 < len(records) else None
        changes = {}
        if previous is not None:
            delta = record.diff_against(previous)
            changes = {c.field: {"old": _plain(c.old), "new": _plain(c.new)} for c in delta.changes}
        out.append(
            {
                "history_id": record.history_id,
                "history_date": record.history_date,
                "history_type": {"+": "created", "~": "changed", "-": "deleted"}[
                    record.history_type
                ],
                "user": record.history_user.get_username() if record.history_user else None,
                "reason": record.history_change_reason,
                "changes": changes,
            }
        )
    return out


def _plain(value):
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if hasattr(value, "geojson"):
        return value.geojson
    return str(value)


class ScopedModelViewSet(viewsets.ModelViewSet):
    """A model viewset whose every read and write is scoped to the user's companies.

    Reads see `restrict(user, "view")`; a write is checked against the company the
    row belongs to before and after the change (403 when the role does not allow it).
    """

    def get_queryset(self):
        return super().get_queryset().restrict(self.request.user, "view")

    def _company_of(self, data: dict, instance=None) -> int | None:
        model = self.queryset.model
        field = getattr(model, "scope_field", "company")
        if field is None:
            return None
        if field == "pk":  # a company: it belongs to its parent's subtree
            parent = data.get("parent", getattr(instance, "parent", None))
            return parent.pk if parent else (instance.pk if instance else None)
        if "company" in data:
            return data["company"].pk if data["company"] is not None else None
        parent_field = getattr(model, "parent_field", None)
        parent = data.get(parent_field) if parent_field else None
        if parent is not None:
            return parent.company_id
        return access.scope_company_id(instance) if instance is not None else None

    def perform_create(self, serializer):
        company_id = self._company_of(serializer.validated_data)
        access.ensure_can(self.request.user, "add", self.queryset.model, company_id)
        serializer.save()

    def perform_update(self, serializer):
        company_id = self._company_of(serializer.validated_data, serializer.instance)
        access.ensure_can(self.request.user, "change", self.queryset.model, company_id)
        serializer.save()

    @extend_schema(responses=HistoryRecordSerializer(many=True), filters=False)
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def history(self, request, pk=None):
        """The change history of this record: who changed what and when."""
        instance = self.get_object()
        return Response(HistoryRecordSerializer(history_records(instance), many=True).data)
