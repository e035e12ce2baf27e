from django.apps import AppConfig


class DatasetsConfig(AppConfig):
    """Datasets in and out: segloop's own zip, COCO, Pascal VOC, Cityscapes and CVAT masks."""

    name = "webapp.datasets"
