from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "webapp.training"

    def ready(self) -> None:
        # Inside ready(): receivers may be registered only once the app registry is loaded.
        from webapp.training import signals  # noqa: F401  (registers training's Mask hook)
