"""What the webhooks endpoints read and write (admins only: a webhook's secret is in it)."""

from rest_framework import serializers

from webapp.webhooks.models import Delivery, Webhook, WebhookEvent


class WebhookSerializer(serializers.ModelSerializer):
    secret = serializers.CharField(
        read_only=True, help_text="The HMAC-SHA256 key of the X-Segloop-Signature header (admins only)."
    )
    events = serializers.ListField(child=serializers.ChoiceField(choices=WebhookEvent.choices))

    class Meta:
        model = Webhook
        fields = ["id", "url", "events", "active", "secret", "created_at"]


class WebhookCreateSerializer(serializers.Serializer):
    url = serializers.URLField(max_length=500, help_text="http(s) URL of a public host.")
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookEvent.choices),
        min_length=1,
        max_length=len(WebhookEvent.values),
        required=False,
        help_text="The events to send; all of them when left out.",
    )


class WebhookUpdateSerializer(serializers.Serializer):
    """Fields left out stay as they are."""

    url = serializers.URLField(max_length=500, required=False)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookEvent.choices),
        min_length=1,
        max_length=len(WebhookEvent.values),
        required=False,
    )
    active = serializers.BooleanField(required=False)
    rotate_secret = serializers.BooleanField(required=False, default=False, help_text="Draw a new secret.")


class DeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = Delivery
        fields = [
            "id",
            "webhook",
            "event",
            "status",
            "attempts",
            "response_code",
            "error",
            "next_attempt_at",
            "created_at",
            "delivered_at",
            "payload",
        ]


class DeliveryFilterSerializer(serializers.Serializer):
    webhook = serializers.IntegerField(
        required=False, min_value=1, max_value=2**31 - 1, help_text="Only this webhook's deliveries."
    )
