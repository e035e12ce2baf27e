"""The review queue settings form: the one parser of the admins' input on the review page.

Shares are entered as percentages (5 = 5 %) and handed to the service as fractions. Every
refusal of a field is one sentence, a module constant, so the page and the tests say the same.
"""
from django import forms

from webapp.projects.models import Project, QueueStrategy

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
        label="Review batch size", min_value=1, max_value=500, error_messages=_all(BATCH_SIZE_INVALID),
        help_text="Picks a reviewer works through between rounds (the diverse order forms this many groups).",
    )
    target_pixel_error = forms.FloatField(
        label="Target pixel error (%)", min_value=0.1, max_value=50, error_messages=_all(TARGET_INVALID),
        widget=forms.NumberInput(attrs={"step": "0.1"}),
        help_text="Auto-accept only what should have at most this share of wrong pixels.",
    )
    audit_share = forms.FloatField(
        label="Audit share (%)", min_value=0, max_value=50, error_messages=_all(AUDIT_INVALID),
        widget=forms.NumberInput(attrs={"step": "0.1"}),
        help_text="Share of would-be auto-accepted pseudo-labels sent to the queue as audits.",
    )

    @classmethod
    def for_project(cls, project: Project) -> "QueueSettingsForm":
        return cls(initial={
            "strategy": project.queue_strategy, "batch_size": project.review_batch_size,
            "target_pixel_error": _percent(project.target_pixel_error), "audit_share": _percent(project.audit_share),
        })

    def settings(self) -> dict:
        """The cleaned values as review_settings_update takes them (shares as fractions)."""
        data = self.cleaned_data
        return {"strategy": data["strategy"], "batch_size": data["batch_size"],
                "target_pixel_error": round(data["target_pixel_error"] / 100, 6),
                "audit_share": round(data["audit_share"] / 100, 6)}

    def messages(self) -> list[str]:
        """One sentence per wrong field, in the form's order."""
        return [self.errors[name][0] for name in self.fields if name in self.errors]


def _percent(share: float) -> float:
    return round(share * 100, 4)
