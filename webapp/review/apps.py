from django.apps import AppConfig


class ReviewConfig(AppConfig):
    name = "webapp.review"

    def ready(self) -> None:
        # Inside ready(): receivers may be registered only once the app registry is loaded.
        from webapp.review import signals  # noqa: F401  (registers review's Mask hook)
