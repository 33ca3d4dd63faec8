"""Serializers of the spatial graph; spatial layers read and write GeoJSON features."""

from rest_framework import serializers
from rest_framework_gis.serializers import GeoFeatureModelSerializer

from spatial import services
from spatial.api.base import ScopedRelatedField, ScopedSerializerMixin
from spatial.models import Building, Company, Floor, Membership, Parcel, Park, Road, Site, Unit

FEATURE_FIELDS = (
    "id",
    "code",
    "name",
    "company",
    "company_code",
    "remarks",
    "created_at",
    "updated_at",
)


class CompanySerializer(ScopedSerializerMixin, serializers.ModelSerializer):
    parent_code = serializers.CharField(source="parent.code", read_only=True, default=None)

    class Meta:
        model = Company
        fields = (
            "id",
            "code",
            "name",
            "short_name",
            "kind",
            "parent",
            "parent_code",
            "uscc",
            "address",
            "path",
            "created_at",
            "updated_at",
        )
        read_only_fields = ("path", "created_at", "updated_at")

    def create(self, validated_data):
        return services.company_create(**validated_data)

    def update(self, instance, validated_data):
        return services.company_update(instance, **validated_data)


class MembershipSerializer(ScopedSerializerMixin, serializers.ModelSerializer):
    company_code = serializers.CharField(source="company.code", read_only=True)

    class Meta:
        model = Membership
        fields = ("id", "company", "company_code", "role")


class FeatureSerializer(ScopedSerializerMixin, GeoFeatureModelSerializer):
    """Base of every layer: GeoJSON out and in; writes go through spatial.services."""

    company = ScopedRelatedField(queryset=Company.objects.all(), required=False)
    company_code = serializers.CharField(source="company.code", read_only=True)

    class Meta:
        geo_field = "geom"
        fields = FEATURE_FIELDS
        read_only_fields = ("created_at", "updated_at")

    def create(self, validated_data):
        return services.feature_create(self.Meta.model, **validated_data)

    def update(self, instance, validated_data):
        return services.feature_update(instance, **validated_data)


class SiteSerializer(FeatureSerializer):
    class Meta(FeatureSerializer.Meta):
        model = Site
        fields = (*FEATURE_FIELDS, "kind", "address", "district", "official_area", "area_m2")


class BuildingSerializer(FeatureSerializer):
    site_code = serializers.CharField(source="site.code", read_only=True)

    class Meta(FeatureSerializer.Meta):
        model = Building
        fields = (
            *FEATURE_FIELDS,
            "site",
            "site_code",
            "use",
            "floors_above",
            "floors_below",
            "height_m",
            "year_built",
            "structure",
            "gross_area",
            "address",
            "bim_global_id",
            "area_m2",
        )


class FloorSerializer(FeatureSerializer):
    building_code = serializers.CharField(source="building.code", read_only=True)

    class Meta(FeatureSerializer.Meta):
        model = Floor
        fields = (
            *FEATURE_FIELDS,
            "building",
            "building_code",
            "level",
            "elevation_m",
            "height_m",
            "bim_global_id",
            "area_m2",
        )


class UnitSerializer(FeatureSerializer):
    floor_code = serializers.CharField(source="floor.code", read_only=True)
    building_code = serializers.CharField(source="building.code", read_only=True)
    site_code = serializers.CharField(source="site.code", read_only=True)

    class Meta(FeatureSerializer.Meta):
        model = Unit
        fields = (
            *FEATURE_FIELDS,
            "floor",
            "floor_code",
            "building",
            "building_code",
            "site",
            "site_code",
            "number",
            "use",
            "status",
            "gross_area",
            "usable_area",
            "area_m2",
            "outside_floor",
            "bim_global_id",
        )
        read_only_fields = ("building", "site", "outside_floor", "created_at", "updated_at")


class RoadSerializer(FeatureSerializer):
    start_stake = serializers.SerializerMethodField()
    end_stake = serializers.SerializerMethodField()

    class Meta(FeatureSerializer.Meta):
        model = Road
        fields = (
            *FEATURE_FIELDS,
            "site",
            "grade",
            "width_m",
            "lanes",
            "start_stake_m",
            "end_stake_m",
            "start_stake",
            "end_stake",
            "length_m",
        )

    def get_start_stake(self, obj) -> str:
        return services.stake_label(obj.start_stake_m)

    def get_end_stake(self, obj) -> str:
        return services.stake_label(obj.end_stake_m)


class ParkSerializer(FeatureSerializer):
    class Meta(FeatureSerializer.Meta):
        model = Park
        fields = (*FEATURE_FIELDS, "site", "kind", "green_area", "opened_year", "area_m2")


class ParcelSerializer(FeatureSerializer):
    class Meta(FeatureSerializer.Meta):
        model = Parcel
        fields = (
            *FEATURE_FIELDS,
            "site",
            "land_use",
            "land_right",
            "title_number",
            "official_area",
            "right_end_date",
            "area_m2",
        )
