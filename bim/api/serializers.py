"""Serializers of BIM imports: the upload (multipart) and the job as it runs."""

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from bim.choices import Placement
from bim.models import IfcImport
from spatial.api.base import ScopedRelatedField
from spatial.models import Site


class IfcImportCreateSerializer(serializers.Serializer):
    file = serializers.FileField(help_text=_("The IFC file (IFC2X3, IFC4 or IFC4X3)."))
    site = ScopedRelatedField(queryset=Site.objects.all())
    anchor_lon = serializers.FloatField(
        required=False, allow_null=True, min_value=-180, max_value=180
    )
    anchor_lat = serializers.FloatField(
        required=False, allow_null=True, min_value=-90, max_value=90
    )
    rotation = serializers.FloatField(
        required=False,
        default=0.0,
        min_value=-360,
        max_value=360,
        help_text=_("Bearing of the model's +Y axis, degrees clockwise from north."),
    )
    crs = serializers.CharField(required=False, allow_blank=True, default="", max_length=60)
    placement = serializers.ChoiceField(choices=Placement.choices, default=Placement.AUTO)
    building_code = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=40
    )

    def validate(self, attrs: dict) -> dict:
        lon, lat = attrs.get("anchor_lon"), attrs.get("anchor_lat")
        if (lon is None) != (lat is None):
            missing = "anchor_lat" if lat is None else "anchor_lon"
            raise serializers.ValidationError(
                {missing: [_("Give both anchor_lon and anchor_lat, or neither.")]}
            )
        return attrs


class IfcImportSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="bim-import-detail")
    site_code = serializers.CharField(source="site.code", read_only=True)
    building_code = serializers.CharField(source="building.code", read_only=True, default=None)
    created_by = serializers.CharField(
        source="created_by.get_username", read_only=True, default=None
    )

    class Meta:
        model = IfcImport
        fields = (
            "id",
            "url",
            "status",
            "progress",
            "message",
            "site",
            "site_code",
            "building",
            "building_code",
            "original_name",
            "size",
            "sha256",
            "anchor_lon",
            "anchor_lat",
            "rotation_deg",
            "crs",
            "placement",
            "attempts",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
        )
        read_only_fields = fields


class IfcImportDetailSerializer(IfcImportSerializer):
    class Meta(IfcImportSerializer.Meta):
        fields = (*IfcImportSerializer.Meta.fields, "report")
        read_only_fields = fields
