"""The parsers of the review page's input: the queue settings form (admins) and a region
review (reviewers).

Shares are entered as percentages (5 = 5 %) and handed to the service as fractions. Every
refusal is one sentence, a module constant, so the page and the tests say the same.
"""

import json
from dataclasses import dataclass
from typing import TypeGuard

from django import forms

from webapp.projects.models import Project, QueueStrategy
from webapp.review.regions import MODES, PAINT, SOURCES, RegionChoice

STRATEGY_INVALID = "Choose a queue strategy: diverse, least confident first or random."
BATCH_SIZE_INVALID = "The review batch size must be a whole number from 1 to 500."
TARGET_INVALID = "The target pixel error must be a percentage from 0.1 to 50."
AUDIT_INVALID = "The audit share must be a percentage from 0 to 50."


def _all(message: str) -> dict:
    """The same message for every way a field can be wrong."""
    keys = ("required", "invalid", "invalid_choice", "min_value", "max_value", "step_size")
    return {key: message for key in keys}


class QueueSettingsForm(forms.Form):
    strategy = forms.ChoiceField(label="Order", choices=QueueStrategy.choices, error_messages=_all(STRATEGY_INVALID))
    batch_size = forms.IntegerField(
        label="Review batch size",
        min_value=1,
        max_value=500,
        error_messages=_all(BATCH_SIZE_INVALID),
        help_text="Picks a reviewer works through between rounds (the diverse order forms this many groups).",
    )
    target_pixel_error = forms.FloatField(
        label="Target pixel error (%)",
        min_value=0.1,
        max_value=50,
        error_messages=_all(TARGET_INVALID),
        widget=forms.NumberInput(attrs={"step": "0.1"}),
        help_text="Auto-accept only what should have at most this share of wrong pixels.",
    )
    audit_share = forms.FloatField(
        label="Audit share (%)",
        min_value=0,
        max_value=50,
        error_messages=_all(AUDIT_INVALID),
        widget=forms.NumberInput(attrs={"step": "0.1"}),
        help_text="Share of would-be auto-accepted pseudo-labels sent to the queue as audits.",
    )

    @classmethod
    def for_project(cls, project: Project) -> "QueueSettingsForm":
        return cls(
            initial={
                "strategy": project.queue_strategy,
                "batch_size": project.review_batch_size,
                "target_pixel_error": _percent(project.target_pixel_error),
                "audit_share": _percent(project.audit_share),
            }
        )

    def settings(self) -> dict:
        """The cleaned values as review_settings_update takes them (shares as fractions)."""
        data = self.cleaned_data
        return {
            "strategy": data["strategy"],
            "batch_size": data["batch_size"],
            "target_pixel_error": round(data["target_pixel_error"] / 100, 6),
            "audit_share": round(data["audit_share"] / 100, 6),
        }

    def messages(self) -> list[str]:
        """One sentence per wrong field, in the form's order."""
        # An ErrorList item is its message text (ErrorList.__getitem__); the stubs type the stored ValidationError.
        return [str(self.errors[name][0]) for name in self.fields if name in self.errors]


def _percent(share: float) -> float:
    return round(share * 100, 4)


# --------------------------------------------------------------------------- review by region

REGION_REVIEW_UNREADABLE = "The region review could not be read: send a JSON object with its mode and decisions."
REGION_MODE_INVALID = (
    "Finish with accept (the rest keeps the pseudo-label) or partial (unchecked regions stay unlabeled)."
)
REGION_ID_INVALID = "Region ids are whole numbers from 0 to 16777215."
REGION_SOURCE_INVALID = (
    "Each region takes the SU teacher's label, the RU teacher's, a painted class or the pseudo-label."
)
REGION_CLASS_INVALID = "A painted region needs its class: a whole number from 0 to 255."
REGION_SECONDS_INVALID = "Times must be numbers of seconds from 0 to 86400."
REGION_KEYS_INVALID = "The keys used must be a list of at most 100 known key names per region."
REGION_TOO_MANY = "A region review can decide at most 100000 regions."

MAX_REGION_ENTRIES = 100_000
MAX_REGION_ID = 256**3 - 1  # ids of an RGB superpixel PNG (ml.superpixels)
MAX_SECONDS = 86_400.0
MAX_KEYS_PER_REGION = 100
# What the review page records per region: its keys, and "button" / "click" for the mouse.
REGION_KEYS = ("1", "2", "k", "p", "tab", "shift+tab", "button", "click")


class InvalidRegionReview(ValueError):
    """The request is not a region review; the message is for the user."""


@dataclass(frozen=True)
class RegionReviewInput:
    mode: str
    decisions: dict[int, RegionChoice]
    seconds: float | None  # the time on the item, by the page's clock
    activity: dict[int, dict]  # region id -> {"seconds": float, "keys": [str]}


def region_review_parse(body: bytes) -> RegionReviewInput:
    """The one parser of a region review (JSON): {"mode": "accept" | "partial", "decisions":
    {region id: {"source": "su" | "ru" | "paint" | "pseudo", "class": int (paint)}},
    "seconds": float, "regions": {region id: {"seconds": float, "keys": [key, ...]}}}.
    Shapes and bounds only; whether the regions and classes exist is the service's to check.
    Raises InvalidRegionReview."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as err:
        raise InvalidRegionReview(REGION_REVIEW_UNREADABLE) from err
    if not isinstance(data, dict) or not isinstance(data.get("decisions", {}), dict):
        raise InvalidRegionReview(REGION_REVIEW_UNREADABLE)
    if data.get("mode") not in MODES:
        raise InvalidRegionReview(REGION_MODE_INVALID)
    decisions = {_region_id(key): _choice(value) for key, value in _bounded(data.get("decisions", {})).items()}
    activity = data.get("regions", {})
    if not isinstance(activity, dict):
        raise InvalidRegionReview(REGION_REVIEW_UNREADABLE)
    seconds = data.get("seconds")
    return RegionReviewInput(
        mode=data["mode"],
        decisions=decisions,
        seconds=None if seconds is None else _seconds(seconds),
        activity={_region_id(key): _activity(value) for key, value in _bounded(activity).items()},
    )


def _bounded(entries: dict) -> dict:
    if len(entries) > MAX_REGION_ENTRIES:
        raise InvalidRegionReview(REGION_TOO_MANY)
    return entries


def _whole(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _region_id(key: str) -> int:
    if not isinstance(key, str) or not key.isdigit() or len(key) > 8 or int(key) > MAX_REGION_ID:
        raise InvalidRegionReview(REGION_ID_INVALID)
    return int(key)


def _choice(value) -> RegionChoice:
    if not isinstance(value, dict) or value.get("source") not in SOURCES:
        raise InvalidRegionReview(REGION_SOURCE_INVALID)
    if value["source"] != PAINT:
        return RegionChoice(value["source"])
    label = value.get("class")
    if not _whole(label) or not 0 <= label <= 255:
        raise InvalidRegionReview(REGION_CLASS_INVALID)
    return RegionChoice(PAINT, label)


def _seconds(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= MAX_SECONDS:
        raise InvalidRegionReview(REGION_SECONDS_INVALID)
    return round(float(value), 2)


def _activity(value) -> dict:
    if not isinstance(value, dict):
        raise InvalidRegionReview(REGION_REVIEW_UNREADABLE)
    keys = value.get("keys", [])
    if (
        not isinstance(keys, list)
        or len(keys) > MAX_KEYS_PER_REGION
        or any(not isinstance(key, str) or key not in REGION_KEYS for key in keys)
    ):
        raise InvalidRegionReview(REGION_KEYS_INVALID)
    return {"seconds": _seconds(value.get("seconds", 0)), "keys": keys}
