"""The tiny trained student of the API tests, and a project with two-region images to check it on."""

import pytest

from tests.conftest import mask_png
from tests.webapp.api.conftest import (  # noqa: F401  fixtures shared with the API tests
    active_model,
    api_for,
    png_of,
    tiny_student_checkpoint,
    two_region_image,
    two_region_labels,
)

WIDTH, HEIGHT = 96, 64


@pytest.fixture
def two_region_images(project, owner):
    """Three training images and two validation images with human masks (classes 0 and 2)."""
    from webapp.images.models import Image
    from webapp.images.services import image_import

    made = []
    for i in range(5):
        width = WIDTH + 2 * i  # distinct bytes
        image = image_import(
            project=project,
            name=f"street{i}.png",
            data=png_of(two_region_image(width, HEIGHT)),
            uploaded_by=owner,
            mask_data=mask_png(two_region_labels(width, HEIGHT)),
        )
        made.append(image)
    Image.objects.filter(pk__in=[image.pk for image in made[3:]]).update(is_validation=True)
    return made
