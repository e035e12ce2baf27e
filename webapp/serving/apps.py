from django.apps import AppConfig


class ServingConfig(AppConfig):
    name = "webapp.serving"

    def ready(self) -> None:
        from webapp.projects.settings_views import SettingsSection, settings_section_register
        from webapp.serving import signals  # noqa: F401  (registers serving's activation hook)
        from webapp.serving.section import SECTION, TEMPLATE, section_context

        settings_section_register(SettingsSection(name=SECTION, template=TEMPLATE, context=section_context))
