"""The settings page's webhook form (shape only: the URL rule is services/targets')."""

from django import forms

from webapp.webhooks.models import WebhookEvent

URL_INVALID = "Give the webhook's full URL, e.g. https://example.org/segloop-hook (at most 500 characters)."
EVENTS_INVALID = "Choose at least one event."


class WebhookForm(forms.Form):
    url = forms.URLField(
        max_length=500,
        label="URL",
        assume_scheme="https",
        error_messages={"required": URL_INVALID, "invalid": URL_INVALID, "max_length": URL_INVALID},
    )
    events = forms.MultipleChoiceField(
        choices=WebhookEvent.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=WebhookEvent.values,
        error_messages={"required": EVENTS_INVALID, "invalid_choice": EVENTS_INVALID},
    )
