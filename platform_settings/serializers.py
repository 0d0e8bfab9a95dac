from rest_framework import serializers

from platform_settings.models import PlatformSettings
from platform_settings.services import SETTINGS_KEYS


class SettingsSerializer(serializers.ModelSerializer):
    """Settings (API.md §2.10): every key always present."""

    payment_retry_days = serializers.ListField(child=serializers.IntegerField())

    class Meta:
        model = PlatformSettings
        fields = list(SETTINGS_KEYS)
        read_only_fields = fields


class SettingsEnvelopeSerializer(serializers.Serializer):
    settings = SettingsSerializer()
    message = serializers.CharField(required=False)


class TermsSerializer(serializers.Serializer):
    """Terms: the operator's terms and conditions (Markdown)."""

    title = serializers.CharField()
    content = serializers.CharField()
