"""Two saves of one image at once, on PostgreSQL's row locks: the second waits for the
first, then sees its mask (a conflict, both versions kept) instead of failing.

Found by bench/web_load.py: a save that had waited for the lock read current_mask_id of
the new row but the mask joined from the old snapshot (None), and answered 500."""

import threading
import time

import numpy as np
import pytest
from django.db import connection, connections, transaction

from webapp.images.models import Image
from webapp.images.services import MaskConflict, mask_save


@pytest.mark.django_db(transaction=True)
def test_a_save_that_waited_for_the_lock_reports_a_conflict(make_image, owner):
    if connection.vendor != "postgresql":
        pytest.skip("needs row locks (PostgreSQL)")
    image = make_image(mask=np.zeros((24, 32), np.uint8))  # version 1
    outcome = []

    def second_save():
        try:
            mask_save(
                image=Image.objects.get(pk=image.pk), base_version=1, array=np.full((24, 32), 2, np.uint8), author=owner
            )
            outcome.append("saved")
        except MaskConflict as conflict:
            outcome.append(("conflict", conflict.current_version))
        except Exception as error:  # noqa: BLE001 - the test reports what went wrong
            outcome.append(error)
        finally:
            connections.close_all()

    with transaction.atomic():  # the first save holds the image's row lock until this commits
        mask_save(image=image, base_version=1, array=np.ones((24, 32), np.uint8), author=owner)
        waiting = threading.Thread(target=second_save)
        waiting.start()
        time.sleep(0.5)  # the second save is now blocked on the lock
        assert not outcome
    waiting.join(timeout=30)
    assert outcome == [("conflict", 2)]
    assert sorted(image.masks.values_list("version", "is_conflict")) == [(1, False), (2, False), (3, True)]
