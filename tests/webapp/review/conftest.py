import numpy as np
import pytest

from ml.png import gray_png
from webapp.images.models import ImageStatus, MaskSource
from webapp.images.services import MaskScores, mask_save
from webapp.review.services import review_item_create


@pytest.fixture
def queue_items(project, make_image):
    """Three pending review items with scores 0.3, 0.1, 0.2 (made as the pseudo-labeller does)."""
    items = []
    for score in (0.3, 0.1, 0.2):
        image = make_image(16, 12)
        mask = mask_save(
            image=image,
            base_version=0,
            array=np.full((12, 16), 1, np.uint8),
            source=MaskSource.PSEUDO,
            status=ImageStatus.IN_REVIEW,
            scores=MaskScores(score, 0.5, 0.1),
        )
        items.append(
            review_item_create(
                image=image,
                mask=mask,
                run=None,
                score=score,
                scores={"mean_confidence": score, "confident_fraction": 0.5, "disagreement": 0.1},
                confidence_png=gray_png(np.full((12, 16), int(score * 255), np.uint8)),
                disagreement_png=gray_png(np.zeros((12, 16), np.uint8)),
            )
        )
    return items
