from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "webapp.training"

    def ready(self) -> None:
        from webapp.training import signals  # noqa: F401  (registers the Mask hooks)
