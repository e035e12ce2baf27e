"""The serving section of the project settings page, registered in ServingConfig.ready."""

from webapp.projects.models import Project
from webapp.serving.forms import PrecisionForm
from webapp.serving.selectors import serving_state

SECTION = "serving"
TEMPLATE = "serving/settings_section.html"


def section_context(*, project: Project, bound: dict) -> dict:
    state = serving_state(project=project)
    return {
        "serving_form": bound.get(SECTION) or PrecisionForm(prefix=SECTION, initial={"precision": state.precision}),
        "serving": state,
        "serving_bulk_error": bound.get("serving_bulk_error"),
    }
