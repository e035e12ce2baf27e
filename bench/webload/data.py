"""The data a run loads: one project of many image rows sharing one file (bulk_create), review
items and pseudo masks, the users; EXPLAIN ANALYZE and a per-endpoint query count of the hot
paths. Django and webapp imports sit inside the functions: they can only be imported after
Services.django_setup() has pointed the settings at the run's database."""

from __future__ import annotations

import io
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image as PILImage

from .config import CLASSES, HEIGHT, PASSWORD, WIDTH, WebLoadConfig
from .progress import log


@dataclass(frozen=True)
class SeedData:
    """What the clients need from the seeded data."""

    project_id: int
    usernames: list[str] = field(repr=False)
    edit_pool: list[int] = field(repr=False)  # the unlabeled images the annotators pick from
    middle_cursor: int  # an image id half-way through the grid (its keyset cursor)
    images: int
    review_items: int
    pseudo: int
    seed_seconds: float

    def summary(self) -> dict:
        """For the record: the sizes, not the lists."""
        return {k: v for k, v in asdict(self).items() if k not in ("usernames", "edit_pool")}


def png_of(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    PILImage.fromarray(array, mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def mask_pngs(count: int, seed: int) -> list[bytes]:
    """Distinct 480x360 label maps of classes 0..3 (rectangles on background), as PNGs."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        array = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
        for _ in range(12):
            y, x = rng.integers(0, HEIGHT - 20), rng.integers(0, WIDTH - 20)
            h, w = rng.integers(10, 120), rng.integers(10, 160)
            array[y : y + h, x : x + w] = rng.integers(0, len(CLASSES))
        out.append(png_of(array))
    return out


def seed(config: WebLoadConfig) -> SeedData:
    """The project, its users and rows; returns what the clients need (ids, usernames)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.db import connection, transaction

    from webapp.images.models import Image, ImageStatus, Mask, MaskSource
    from webapp.projects.models import Membership
    from webapp.projects.services import ClassSpec, project_create
    from webapp.review.models import ReviewItem

    User = get_user_model()
    rng = np.random.default_rng(config.seed)
    started = time.perf_counter()
    owner = User.objects.create_user(username="bench-owner", password=PASSWORD)
    project = project_create(owner=owner, name="Web load", classes=[ClassSpec(n, is_ignore=i) for n, i in CLASSES])
    hashed = make_password(PASSWORD)  # one PBKDF2 for every user; each login still checks it
    users = User.objects.bulk_create(User(username=f"bench-user-{i:03d}", password=hashed) for i in range(config.users))
    Membership.objects.bulk_create(
        Membership(project=project, user=u, is_annotator=True, is_reviewer=True) for u in users
    )

    n = config.images
    n_review = int(n * config.review_share)
    n_pseudo = int(n * config.pseudo_share)
    statuses = np.array(
        [ImageStatus.IN_REVIEW] * n_review
        + [ImageStatus.PSEUDO_LABELED] * n_pseudo
        + [ImageStatus.UNLABELED] * (n - n_review - n_pseudo),
        dtype=object,
    )
    rng.shuffle(statuses)
    size = (Path(os.environ["MEDIA_ROOT"]) / "bench" / "image.png").stat().st_size
    batch = 5000
    with transaction.atomic():
        ids: list[int] = []
        for start in range(0, n, batch):
            rows = Image.objects.bulk_create(
                Image(
                    project=project,
                    file="bench/image.png",
                    thumbnail="bench/thumb.jpg",
                    original_name=f"frame_{i:06d}.png",
                    width=WIDTH,
                    height=HEIGHT,
                    size_bytes=size,
                    checksum=f"{i:064x}",
                    status=str(statuses[i]),
                    uploaded_by=owner,
                )
                for i in range(start, min(n, start + batch))
            )
            ids.extend(r.pk for r in rows)
        labelled = [(pk, s) for pk, s in zip(ids, statuses, strict=True) if s != ImageStatus.UNLABELED]
        masks: list = []
        for start in range(0, len(labelled), batch):
            masks.extend(
                Mask.objects.bulk_create(
                    Mask(
                        image_id=pk,
                        version=1,
                        file=f"bench/pseudo-{pk % 4}.png",
                        source=MaskSource.PSEUDO,
                        mean_confidence=0.8,
                        confident_fraction=0.7,
                        disagreement=0.1,
                    )
                    for pk, _ in labelled[start : start + batch]
                )
            )
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE images_image AS i SET current_mask_id = m.id FROM images_mask AS m "
                "WHERE m.image_id = i.id AND i.project_id = %s",
                [project.pk],
            )
        review = [(m, s) for m, (_, s) in zip(masks, labelled, strict=True) if s == ImageStatus.IN_REVIEW]
        scores = rng.random(len(review))
        # Ranked as a round's re-score leaves them (webapp.review.queue): a random order here.
        ranks = rng.permutation(len(review))
        for start in range(0, len(review), batch):
            ReviewItem.objects.bulk_create(
                ReviewItem(
                    project=project,
                    image_id=m.image_id,
                    pseudo_mask_id=m.pk,
                    score=float(score),
                    mean_confidence=float(score),
                    confident_fraction=float(score) * 0.9,
                    disagreement=float(1 - score) * 0.3,
                    queue_rank=int(rank),
                    pick_kind="doubtful",
                    pick_group_size=14,
                )
                for (m, _), score, rank in zip(
                    review[start : start + batch],
                    scores[start : start + batch],
                    ranks[start : start + batch],
                    strict=True,
                )
            )
    with connection.cursor() as cursor:
        # What autovacuum does soon after a bulk load: statistics, and the visibility map
        # that lets the (project, status, id) index answer counts without heap fetches.
        cursor.execute("VACUUM ANALYZE")
    unlabeled = list(
        Image.objects.filter(project=project, status=ImageStatus.UNLABELED)
        .order_by("id")
        .values_list("id", flat=True)[: config.edit_pool]
    )
    middle = ids[len(ids) // 2] if ids else 0
    log(
        f"seeded {n} images, {len(masks)} pseudo masks, {len(review)} pending review items, "
        f"{config.users} users in {time.perf_counter() - started:.1f} s"
    )
    return SeedData(
        project_id=project.pk,
        usernames=[u.username for u in users],
        edit_pool=unlabeled,
        middle_cursor=middle,
        images=n,
        review_items=len(review),
        pseudo=n_pseudo,
        seed_seconds=round(time.perf_counter() - started, 1),
    )


def explain(data: SeedData) -> dict:
    """EXPLAIN ANALYZE of the queries behind the grid page and the next review item."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.db.models import Count
    from django.utils import timezone

    from webapp.images.models import Image
    from webapp.projects.models import Project
    from webapp.projects.selectors import project_images_page
    from webapp.review.models import ReviewItem, ReviewStatus
    from webapp.review.selectors import claimable, review_counts

    project = Project.objects.get(pk=data.project_id)
    user = get_user_model().objects.get(username=data.usernames[0])
    now = timezone.now()
    queries = {
        "review_next_held": ReviewItem.objects.filter(
            project=project, status=ReviewStatus.PENDING, leased_by=user, lease_expires_at__gt=now
        ).order_by("score", "id")[:1],
        "review_next_candidate": ReviewItem.objects.filter(claimable(now), project=project)
        .order_by("score", "id")
        .values_list("pk", flat=True)[:1],
        "status_counts": Image.objects.filter(project=project).values_list("status").annotate(n=Count("id")).order_by(),
        "grid_filter": Image.objects.filter(project=project, status="in_review").only("id").order_by("id")[:61],
    }
    out = {}
    for name, queryset in queries.items():
        sql, params = queryset.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
            out[name] = [row[0] for row in cursor.fetchall()]
    # review_counts runs .aggregate(), not a queryset: time it instead
    started = time.perf_counter()
    review_counts(project=project)
    out["review_counts_ms"] = round((time.perf_counter() - started) * 1000, 2)
    started = time.perf_counter()
    project_images_page(project=project, status="in_review")
    out["grid_filter_page_ms"] = round((time.perf_counter() - started) * 1000, 2)
    return out


def query_profile(data: SeedData) -> dict:
    """Queries and in-process milliseconds per endpoint, one request each (Django test client)."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client as DjangoClient
    from django.test.utils import CaptureQueriesContext

    from webapp.review.models import ReviewItem, ReviewStatus

    user = get_user_model().objects.get(username=data.usernames[-1])
    client = DjangoClient(SERVER_NAME="127.0.0.1", HTTP_X_FORWARDED_PROTO="https")
    client.force_login(user)
    pid, image = data.project_id, data.edit_pool[-1]
    base = f"/projects/{pid}/images/{image}"
    item = ReviewItem.objects.filter(project_id=pid, status=ReviewStatus.PENDING).order_by("-score").first()
    calls = [
        ("editor_page", "get", base + "/edit/", {}),
        ("mask_load", "get", base + "/mask/current.png", {}),
        ("mask_save", "post", base + "/mask/", {"data": {"mask": _upload(), "base_version": "0"}}),
        ("grid_first_page", "get", f"/projects/{pid}/", {}),
        ("grid_later_page", "get", f"/projects/{pid}/?after={data.middle_cursor}", {}),
        ("grid_status_filter", "get", f"/projects/{pid}/?status=in_review", {}),
        ("review_claim", "post", f"/projects/{pid}/review/next/", {}),
        ("review_queue_page", "get", f"/projects/{pid}/review/", {}),  # shows the item just claimed
        ("review_next_api", "post", f"/api/projects/{pid}/review/next/", {}),
        ("review_decide_api", "post", f"/api/projects/{pid}/review/{item.pk}/reject/", {}),
    ]
    out = {}
    for name, method, path, kwargs in calls:
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = getattr(client, method)(path, **kwargs)
            ms = (time.perf_counter() - started) * 1000
        out[name] = {
            "status": response.status_code,
            "queries": len(captured),
            "ms": round(ms, 1),
            "sql_ms": round(sum(float(q["time"]) for q in captured) * 1000, 1),
        }
    ReviewItem.objects.filter(leased_by=user).update(leased_by=None, lease_expires_at=None)
    return out


def _upload() -> SimpleUploadedFile:
    return SimpleUploadedFile("mask.png", mask_pngs(1, seed=3)[0], content_type="image/png")
