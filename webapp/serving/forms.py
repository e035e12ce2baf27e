from django import forms

from webapp.serving.models import Precision


class PrecisionForm(forms.Form):
    precision = forms.ChoiceField(
        choices=Precision.choices,
        widget=forms.RadioSelect,
        label="Serve predictions in",
        help_text="int8 is served only after it loses at most 1 mIoU point against fp32 on the "
        "project's validation images.",
    )
