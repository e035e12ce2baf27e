"""What the project settings endpoints read and write (webapp.api.views.project_settings).

Shape only, as the page's forms: every rule (bounds, a class in use, the owner stays admin,
a valid training config) is the services', so the page and the API refuse with the same words.
"""

from rest_framework import serializers

from webapp.api.serializers import ThresholdCalibrationSerializer
from webapp.converters import MAX_ID
from webapp.projects.models import HEX_COLOUR, LabelClass, Membership, QueueStrategy


class ProjectSettingsSerializer(serializers.Serializer):
    """The review and training settings; PATCH any of them (the others stay as they are)."""

    review_threshold = serializers.FloatField(
        help_text="Pseudo-labels scoring below this go to the review queue (0 to 1), until a round has learned "
        "the threshold from target_pixel_error."
    )
    queue_strategy = serializers.ChoiceField(choices=QueueStrategy.choices)
    review_batch_size = serializers.IntegerField(help_text="Picks a reviewer works through between rounds (1 to 500).")
    target_pixel_error = serializers.FloatField(help_text="A fraction: 0.05 = at most 5 % wrong pixels.")
    audit_share = serializers.FloatField(help_text="A fraction of the would-be auto-accepted pseudo-labels.")
    threshold_calibration = ThresholdCalibrationSerializer(read_only=True)
    auto_retrain_after = serializers.IntegerField(
        allow_null=True, help_text="Retrain after this many new human masks; null: rounds start only by hand."
    )
    max_minutes = serializers.FloatField(
        allow_null=True, help_text="The round's time budget in minutes; null: the default."
    )
    training_config = serializers.DictField(
        help_text="ml.train.TrainConfig fields for this project's rounds (not max_minutes, num_classes, "
        "ignore_index or class_names: those have their own field or follow the classes)."
    )


class SettingsClassSerializer(serializers.ModelSerializer):
    class Meta:
        model = LabelClass
        fields = ["id", "index", "name", "color", "is_ignore"]
        read_only_fields = fields


class ClassLayoutSerializer(serializers.Serializer):
    classes = SettingsClassSerializer(many=True)
    masks_seen = serializers.IntegerField(
        help_text="The project's latest mask id: send it back with a change that moves indices, so that a mask "
        "saved meanwhile refuses the change instead of being rewritten unseen."
    )


class _RemapSerializer(serializers.Serializer):
    rewrite_masks = serializers.BooleanField(
        default=False,
        help_text="Rewrite the current masks that hold moved classes as new versions (their history stays); "
        "without it a change that moves a class in use is refused.",
    )
    masks_seen = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=0, max_value=MAX_ID)


class ClassAddSerializer(_RemapSerializer):
    name = serializers.CharField(max_length=100)
    color = serializers.RegexField(
        HEX_COLOUR.regex, required=False, default="", error_messages={"invalid": HEX_COLOUR.message}
    )


class ClassUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    color = serializers.RegexField(HEX_COLOUR.regex, required=False, error_messages={"invalid": HEX_COLOUR.message})


class ClassRemoveSerializer(_RemapSerializer):
    into = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        min_value=1,
        max_value=MAX_ID,
        help_text="The id of the class the removed class's pixels become (needed when masks use it).",
    )


class IgnoreClassSerializer(_RemapSerializer):
    ignore = serializers.IntegerField(
        allow_null=True, min_value=1, max_value=MAX_ID, help_text="The id of the ignore class; null: none."
    )


class MemberSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)
    annotator = serializers.BooleanField(source="is_annotator")
    reviewer = serializers.BooleanField(source="is_reviewer")
    admin = serializers.BooleanField(source="is_admin")
    is_owner = serializers.SerializerMethodField()

    class Meta:
        model = Membership
        fields = ["id", "username", "annotator", "reviewer", "admin", "is_owner"]

    def get_is_owner(self, membership) -> bool:
        return membership.user_id == membership.project.owner_id


class MemberRolesSerializer(serializers.Serializer):
    annotator = serializers.BooleanField(required=False)
    reviewer = serializers.BooleanField(required=False)
    admin = serializers.BooleanField(required=False)


class MemberAddSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    annotator = serializers.BooleanField(default=True)
    reviewer = serializers.BooleanField(default=False)
    admin = serializers.BooleanField(default=False)
