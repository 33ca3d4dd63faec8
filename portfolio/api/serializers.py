"""Serializers of the asset register."""

from django.contrib.contenttypes.models import ContentType
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers
from rest_framework.reverse import reverse
from rest_framework_gis.serializers import GeoFeatureModelSerializer

from portfolio import services
from portfolio.choices import TagKind
from portfolio.models import Asset, AssetTag, Category, CodingRule, Document
from spatial.api.base import ScopedSerializerMixin


class CategorySerializer(ScopedSerializerMixin, serializers.ModelSerializer):
    class Meta:
        model = Category
        fields = (
            "id",
            "code",
            "name",
            "parent",
            "level",
            "standard",
            "useful_life_months",
            "residual_rate",
            "is_active",
        )

    def validate(self, attrs):
        parent = attrs.get("parent")
        if parent is not None:
            attrs["level"] = parent.level + 1
        return attrs


class CodingRuleSerializer(ScopedSerializerMixin, serializers.ModelSerializer):
    class Meta:
        model = CodingRule
        fields = ("id", "name", "pattern", "company", "category", "priority", "is_active")

    def validate_pattern(self, value):
        from portfolio.coding import parse_pattern

        parse_pattern(value)
        return value


class TagInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=TagKind.choices)
    value = serializers.CharField(max_length=128)


class AssetTagSerializer(ScopedSerializerMixin, serializers.ModelSerializer):
    class Meta:
        model = AssetTag
        fields = ("id", "asset", "kind", "value", "created_at")
        read_only_fields = ("created_at",)
        validators = []  # uniqueness is checked, with a field name, by the service

    def create(self, validated_data):
        return services.asset_tag_add(**validated_data)


class AssetSerializer(ScopedSerializerMixin, GeoFeatureModelSerializer):
    code = serializers.CharField(
        max_length=64,
        required=False,
        allow_blank=True,
        help_text=_("Leave empty to issue one from the coding rules."),
    )
    company_code = serializers.CharField(source="company.code", read_only=True)
    category_code = serializers.CharField(source="category.code", read_only=True)
    category_name = serializers.CharField(source="category.name", read_only=True)
    tags = AssetTagSerializer(many=True, read_only=True)
    new_tags = TagInputSerializer(many=True, write_only=True, required=False)

    class Meta:
        model = Asset
        geo_field = "geom"
        fields = (
            "id",
            "code",
            "name",
            "category",
            "category_code",
            "category_name",
            "company",
            "company_code",
            "status",
            "custodian_department",
            "custodian",
            "brand",
            "model_number",
            "serial_number",
            "site",
            "building",
            "floor",
            "unit",
            "road",
            "park",
            "parcel",
            "acquisition_cost",
            "acquisition_date",
            "in_service_date",
            "useful_life_months",
            "residual_rate",
            "bim_global_id",
            "remarks",
            "tags",
            "new_tags",
            "created_at",
            "updated_at",
        )
        read_only_fields = ("created_at", "updated_at")
        validators = []

    def create(self, validated_data):
        tags = validated_data.pop("new_tags", [])
        return services.asset_create(
            today=timezone.localdate(), tags=[dict(t) for t in tags], **validated_data
        )

    def update(self, instance, validated_data):
        tags = validated_data.pop("new_tags", [])
        asset = services.asset_update(instance, **validated_data)
        for tag in tags:
            services.asset_tag_add(asset=asset, **tag)
        return asset


TARGET_TYPES = {
    "asset": ("portfolio", "asset"),
    "site": ("spatial", "site"),
    "building": ("spatial", "building"),
    "floor": ("spatial", "floor"),
    "unit": ("spatial", "unit"),
    "road": ("spatial", "road"),
    "park": ("spatial", "park"),
    "parcel": ("spatial", "parcel"),
}


class DocumentSerializer(serializers.ModelSerializer):
    target_type = serializers.ChoiceField(choices=sorted(TARGET_TYPES), write_only=True)
    target_id = serializers.IntegerField(write_only=True)
    attached_to = serializers.SerializerMethodField()
    file = serializers.FileField(write_only=True)
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = Document
        fields = (
            "id",
            "kind",
            "title",
            "number",
            "issue_date",
            "expiry_date",
            "target_type",
            "target_id",
            "attached_to",
            "company",
            "file",
            "download_url",
            "original_name",
            "mime_type",
            "size",
            "sha256",
            "uploaded_by",
            "created_at",
        )
        read_only_fields = (
            "company",
            "original_name",
            "mime_type",
            "size",
            "sha256",
            "uploaded_by",
            "created_at",
        )

    def get_download_url(self, obj) -> str:
        return reverse("document-download", args=[obj.pk], request=self.context.get("request"))

    def get_attached_to(self, obj) -> dict:
        return {"type": obj.content_type.model, "id": obj.object_id}

    def validate(self, attrs):
        request = self.context["request"]
        if self.instance is not None:
            attrs.pop("target_type", None)
            attrs.pop("target_id", None)
            if "file" in attrs:
                raise serializers.ValidationError(
                    {"file": [_("Upload a new document instead of replacing the file.")]}
                )
            return attrs
        app_label, model = TARGET_TYPES[attrs.pop("target_type")]
        model_class = ContentType.objects.get_by_natural_key(app_label, model).model_class()
        target = (
            model_class.objects.restrict(request.user, "view")
            .filter(pk=attrs.pop("target_id"))
            .first()
        )
        if target is None:
            raise serializers.ValidationError({"target_id": [_("No such object visible to you.")]})
        attrs["target"] = target
        return attrs

    def create(self, validated_data):
        upload = validated_data.pop("file")
        return services.document_attach(
            upload=upload, uploaded_by=self.context["request"].user, **validated_data
        )

    def update(self, instance, validated_data):
        for name, value in validated_data.items():
            setattr(instance, name, value)
        instance.full_clean()
        instance.save()
        return instance
