"""Web load benchmark: segloop served as in production, under concurrent annotators and reviewers.

What runs (all on 127.0.0.1, all started and stopped by this script):

* PostgreSQL: a dedicated database (``--db-name``, created here, dropped at the end) on the
  server at ``--pg`` (trust auth);
* Redis: the server at ``--redis``, a dedicated db number (``--redis-db``, flushed before and
  after; refused if it holds keys that are not Celery's);
* one Celery worker (``-Q default``), checked with the ``webapp.ping`` task;
* gunicorn (``gunicorn webapp.wsgi``, ``--workers`` x ``--threads`` gthread) with DEBUG=false,
  SECRET_KEY, ALLOWED_HOSTS=127.0.0.1, SECURE_SSL_REDIRECT=false, media in a temp dir. The
  client sends ``X-Forwarded-Proto: https`` as the TLS proxy in front of production does
  (settings.SECURE_PROXY_SSL_HEADER), and keeps the Secure session and CSRF cookies on
  plain-HTTP loopback. No settings change is needed.

Data: one project of ``--images`` image rows made with bulk_create, all pointing at one shared
480x360 image file and thumbnail; ``--review-share`` of them are in review with a pending
ReviewItem (random score) whose pseudo mask is one of a few shared PNGs, ``--pseudo-share``
are pseudo-labeled, the rest unlabeled. ``--users`` users (annotator + reviewer) log in
through the login form (timed apart, before the measured windows).

Scenarios, each a closed loop of ``--users`` threads for ``--duration`` seconds, with a think
time of ``--think`` seconds (uniform 0.5x..1.5x) between a user's actions:

* ``annotate``: 70 % of actions edit a random image of the first ``--edit-pool`` unlabeled
  ones: GET the editor page, GET the current mask (its X-Mask-Version is the base), think,
  POST a 480x360 PNG of class indices (multipart ``mask``, base_version, editing_seconds).
  A 409 (someone saved the image meanwhile) is counted as a conflict, the mask is read again
  and the save retried once. 30 % review: GET the review queue page (it only reads: it shows
  the item the user holds); when it shows none, POST "Start reviewing" (``review_claim``, the
  303 back) and GET the page again; think, POST accept or reject (``review_decide``, the 302
  back; the POST also leases the user's next item, which their next GET of the page shows).
* ``browse``: the image grid of the big project (first page, a page half-way through by its
  keyset cursor, the "in review" filter), and the review API: POST review/next/, think, POST
  accept or reject.

Every request that does not answer its expected status (or fails) is an error. Printed as
one JSON object, appended to bench/results/web_load.jsonl (``--jsonl``; ``--no-jsonl``
skips), and with ``--write-docs`` written to the "## Web load" section of docs/benchmarks.md.
``--explain`` prints EXPLAIN ANALYZE of the hot queries after seeding.

    .venv/bin/python bench/web_load.py                       # 50 users, 100,000 images, 2 x 60 s
    .venv/bin/python bench/web_load.py --users 3 --duration 3 --images 300 --no-jsonl  # smoke
"""
from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import platform
import random
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

from cpu_info import cpu_model  # bench/ is on sys.path when a script runs

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

DEFAULT_JSONL = REPO / "bench" / "results" / "web_load.jsonl"
DOCS = REPO / "docs" / "benchmarks.md"
VENV_BIN = Path(sys.executable).parent
WIDTH, HEIGHT = 480, 360
CLASSES = [("background", False), ("road", False), ("car", False), ("void", True)]
PASSWORD = "bench-password-8231"
TARGET_MASK_SAVE_P95_MS = 150.0
TARGET_REVIEW_NEXT_P95_MS = 30.0
ITEM_RE = re.compile(r'data-item="(\d+)"')


# ----------------------------------------------------------------------------- helpers


def log(message: str) -> None:
    print(f"[web_load {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def machine() -> dict:
    return {"host": platform.node(), "platform": platform.platform(), "cpus": os.cpu_count(), "cpu": cpu_model(),
            "python": platform.python_version()}


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, int(-(-q * len(sorted_values) // 100)))  # ceil(q/100 * n)
    return sorted_values[min(rank, len(sorted_values)) - 1]


def png_of(array) -> bytes:
    from PIL import Image as PILImage

    buffer = io.BytesIO()
    PILImage.fromarray(array, mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def mask_pngs(count: int, seed: int) -> list[bytes]:
    """Distinct 480x360 label maps of classes 0..3 (rectangles on background), as PNGs."""
    import numpy as np

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        array = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
        for _ in range(12):
            y, x = rng.integers(0, HEIGHT - 20), rng.integers(0, WIDTH - 20)
            h, w = rng.integers(10, 120), rng.integers(10, 160)
            array[y:y + h, x:x + w] = rng.integers(0, len(CLASSES))
        out.append(png_of(array))
    return out


# ----------------------------------------------------------------------------- services


class Services:
    """The database, Redis db, Celery worker and gunicorn of one run; stop() undoes all of it."""

    def __init__(self, args):
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="segloop-webload-"))
        self.port = args.port or free_port()
        self.procs: list[tuple[str, subprocess.Popen]] = []
        self.db_created = False
        self.redis_used = False
        self.env = dict(os.environ)
        self.env.update({
            "DJANGO_SETTINGS_MODULE": "webapp.settings",
            "DATABASE_URL": f"{args.pg.rstrip('/')}/{args.db_name}",
            "REDIS_URL": f"{args.redis.rstrip('/')}/{args.redis_db}",
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "127.0.0.1",
            "SECURE_SSL_REDIRECT": "false",
            "SECURE_HSTS_SECONDS": "0",
            "SEGLOOP_DATA_DIR": str(self.tmp / "var"),
            "MEDIA_ROOT": str(self.tmp / "media"),
            "STATIC_ROOT": str(self.tmp / "static"),
            "LOG_LEVEL": "WARNING",
            "HF_HUB_OFFLINE": "1",
            "PYTHONUNBUFFERED": "1",
        })
        self.env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- PostgreSQL and Redis

    def _pg_admin(self):
        import psycopg

        return psycopg.connect(f"{self.args.pg.rstrip('/')}/postgres", autocommit=True, connect_timeout=5)

    def create_database(self) -> None:
        from psycopg import sql

        with self._pg_admin() as conn:
            name = sql.Identifier(self.args.db_name)
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(name))
        self.db_created = True

    def drop_database(self) -> None:
        if not self.db_created:
            return
        from psycopg import sql

        try:
            with self._pg_admin() as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.args.db_name)))
        except Exception as error:  # noqa: BLE001 - cleanup must go on
            log(f"could not drop database {self.args.db_name}: {error}")

    def _redis(self):
        import redis

        return redis.Redis.from_url(self.env["REDIS_URL"], socket_timeout=5)

    def claim_redis_db(self) -> None:
        client = self._redis()
        foreign = [k for k in client.scan_iter(count=1000)
                   if not k.startswith((b"_kombu", b"celery", b"unacked", b"default", b"training"))]
        if foreign:
            raise SystemExit(f"Redis db {self.args.redis_db} holds other keys ({foreign[:3]}...); "
                             f"pick a free one with --redis-db.")
        client.flushdb()
        self.redis_used = True

    def release_redis_db(self) -> None:
        if self.redis_used:
            try:
                self._redis().flushdb()
            except Exception as error:  # noqa: BLE001
                log(f"could not flush redis db {self.args.redis_db}: {error}")

    # -- Django in this process (migrate, seed, explain)

    def django_setup(self) -> None:
        os.environ.update(self.env)
        import django

        django.setup()

    def media_files(self) -> None:
        import numpy as np
        from PIL import Image as PILImage

        root = Path(self.env["MEDIA_ROOT"]) / "bench"
        root.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(0)
        PILImage.fromarray(rng.integers(0, 255, (HEIGHT, WIDTH, 3), dtype=np.uint8)).save(root / "image.png")
        PILImage.open(root / "image.png").convert("RGB").resize((160, 120)).save(root / "thumb.jpg", quality=85)
        for k, png in enumerate(mask_pngs(4, seed=1)):
            (root / f"pseudo-{k}.png").write_bytes(png)

    # -- processes

    def _start(self, name: str, argv: list[str]) -> subprocess.Popen:
        logfile = open(self.tmp / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(argv, cwd=REPO, env=self.env, stdout=logfile, stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.procs.append((name, proc))
        return proc

    def log_errors(self, name: str, limit: int = 3) -> list[str]:
        """The first tracebacks of 5xx answers in a server log (Django logs them at ERROR)."""
        path = self.tmp / f"{name}.log"
        if not path.exists():
            return []
        blocks = path.read_text(errors="replace").split("Internal Server Error: ")[1:]
        return ["Internal Server Error: " + block[:4000] for block in blocks[:limit]]

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.tmp / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def start_celery(self) -> None:
        self._start("celery", [str(VENV_BIN / "celery"), "-A", "webapp", "worker", "-Q", "default",
                               "--concurrency", "1", "--pool", "solo", "--without-gossip", "--without-mingle",
                               "--without-heartbeat", "-l", "WARNING"])

    def check_celery(self, timeout: float = 60.0) -> float:
        from webapp.celery import app, ping

        app.conf.update(broker_url=self.env["REDIS_URL"], result_backend=self.env["REDIS_URL"])
        started = time.perf_counter()
        try:
            assert ping.delay(41).get(timeout=timeout) == 42
        except Exception as error:
            raise RuntimeError(f"Celery worker did not answer ping: {error}\n{self.log_tail('celery')}") from error
        return time.perf_counter() - started

    def start_gunicorn(self, timeout: float = 60.0) -> None:
        import requests

        args = self.args
        self._start("gunicorn", [str(VENV_BIN / "gunicorn"), "webapp.wsgi", "-b", f"127.0.0.1:{self.port}",
                                 "-w", str(args.workers), "-k", "gthread", "--threads", str(args.threads),
                                 "--keep-alive", str(args.keep_alive), "--timeout", "60", "--graceful-timeout", "5", "--log-level", "warning"])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = self.procs[-1][1]
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited ({proc.returncode}):\n{self.log_tail('gunicorn')}")
            try:
                if requests.get(self.base_url + "/login/", timeout=2,
                                headers={"X-Forwarded-Proto": "https"}).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"gunicorn did not answer /login/ in {timeout:.0f} s:\n{self.log_tail('gunicorn')}")

    def stop(self) -> None:
        for name, proc in reversed(self.procs):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)  # the group this script started for it
                except ProcessLookupError:
                    pass
        for name, proc in reversed(self.procs):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                log(f"{name} ignored SIGTERM; killing it")
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=5)
        self.procs.clear()
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # noqa: BLE001 - Django may not be set up
            pass
        self.release_redis_db()
        self.drop_database()
        shutil.rmtree(self.tmp, ignore_errors=True)


# ----------------------------------------------------------------------------- data


def seed(args) -> dict:
    """The project, its users and rows; returns what the clients need (ids, usernames)."""
    import numpy as np
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.db import connection, transaction

    from webapp.images.models import Image, ImageStatus, Mask, MaskSource
    from webapp.projects.models import Membership
    from webapp.projects.services import ClassSpec, project_create
    from webapp.review.models import ReviewItem

    User = get_user_model()
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    owner = User.objects.create_user(username="bench-owner", password=PASSWORD)
    project = project_create(owner=owner, name="Web load", classes=[ClassSpec(n, is_ignore=i) for n, i in CLASSES])
    hashed = make_password(PASSWORD)  # one PBKDF2 for every user; each login still checks it
    users = User.objects.bulk_create(User(username=f"bench-user-{i:03d}", password=hashed) for i in range(args.users))
    Membership.objects.bulk_create(
        Membership(project=project, user=u, is_annotator=True, is_reviewer=True) for u in users
    )

    n = args.images
    n_review = int(n * args.review_share)
    n_pseudo = int(n * args.pseudo_share)
    statuses = np.array([ImageStatus.IN_REVIEW] * n_review + [ImageStatus.PSEUDO_LABELED] * n_pseudo
                        + [ImageStatus.UNLABELED] * (n - n_review - n_pseudo), dtype=object)
    rng.shuffle(statuses)
    size = (Path(os.environ["MEDIA_ROOT"]) / "bench" / "image.png").stat().st_size
    batch = 5000
    with transaction.atomic():
        ids: list[int] = []
        for start in range(0, n, batch):
            rows = Image.objects.bulk_create(
                Image(project=project, file="bench/image.png", thumbnail="bench/thumb.jpg",
                      original_name=f"frame_{i:06d}.png", width=WIDTH, height=HEIGHT, size_bytes=size,
                      checksum=f"{i:064x}", status=str(statuses[i]), uploaded_by=owner)
                for i in range(start, min(n, start + batch))
            )
            ids.extend(r.pk for r in rows)
        labelled = [(pk, s) for pk, s in zip(ids, statuses) if s != ImageStatus.UNLABELED]
        masks: list = []
        for start in range(0, len(labelled), batch):
            masks.extend(Mask.objects.bulk_create(
                Mask(image_id=pk, version=1, file=f"bench/pseudo-{pk % 4}.png", source=MaskSource.PSEUDO,
                     mean_confidence=0.8, confident_fraction=0.7, disagreement=0.1)
                for pk, _ in labelled[start:start + batch]
            ))
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE images_image AS i SET current_mask_id = m.id FROM images_mask AS m "
                "WHERE m.image_id = i.id AND i.project_id = %s", [project.pk],
            )
        review = [(m, s) for m, (_, s) in zip(masks, labelled) if s == ImageStatus.IN_REVIEW]
        scores = rng.random(len(review))
        # Ranked as a round's re-score leaves them (webapp.review.queue): a random order here.
        ranks = rng.permutation(len(review))
        for start in range(0, len(review), batch):
            ReviewItem.objects.bulk_create(
                ReviewItem(project=project, image_id=m.image_id, pseudo_mask_id=m.pk, score=float(score),
                           mean_confidence=float(score), confident_fraction=float(score) * 0.9,
                           disagreement=float(1 - score) * 0.3, queue_rank=int(rank), pick_kind="doubtful",
                           pick_group_size=14)
                for (m, _), score, rank in zip(review[start:start + batch], scores[start:start + batch],
                                               ranks[start:start + batch])
            )
    with connection.cursor() as cursor:
        # What autovacuum does soon after a bulk load: statistics, and the visibility map
        # that lets the (project, status, id) index answer counts without heap fetches.
        cursor.execute("VACUUM ANALYZE")
    unlabeled = list(Image.objects.filter(project=project, status=ImageStatus.UNLABELED)
                     .order_by("id").values_list("id", flat=True)[: args.edit_pool])
    middle = ids[len(ids) // 2] if ids else 0
    log(f"seeded {n} images, {len(masks)} pseudo masks, {len(review)} pending review items, "
        f"{args.users} users in {time.perf_counter() - started:.1f} s")
    return {"project_id": project.pk, "usernames": [u.username for u in users], "edit_pool": unlabeled,
            "middle_cursor": middle, "images": n, "review_items": len(review), "pseudo": n_pseudo,
            "seed_seconds": round(time.perf_counter() - started, 1)}


def explain(data: dict) -> dict:
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

    project = Project.objects.get(pk=data["project_id"])
    user = get_user_model().objects.get(username=data["usernames"][0])
    now = timezone.now()
    queries = {
        "review_next_held": ReviewItem.objects.filter(project=project, status=ReviewStatus.PENDING,
                                                      leased_by=user, lease_expires_at__gt=now).order_by("score", "id")[:1],
        "review_next_candidate": ReviewItem.objects.filter(claimable(now), project=project)
        .order_by("score", "id").values_list("pk", flat=True)[:1],
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


def query_profile(data: dict) -> dict:
    """Queries and in-process milliseconds per endpoint, one request each (Django test client)."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client as DjangoClient
    from django.test.utils import CaptureQueriesContext

    from webapp.review.models import ReviewItem, ReviewStatus

    user = get_user_model().objects.get(username=data["usernames"][-1])
    client = DjangoClient(SERVER_NAME="127.0.0.1", HTTP_X_FORWARDED_PROTO="https")
    client.force_login(user)
    pid, image = data["project_id"], data["edit_pool"][-1]
    base = f"/projects/{pid}/images/{image}"
    item = ReviewItem.objects.filter(project_id=pid, status=ReviewStatus.PENDING).order_by("-score").first()
    calls = [
        ("editor_page", "get", base + "/edit/", {}),
        ("mask_load", "get", base + "/mask/current.png", {}),
        ("mask_save", "post", base + "/mask/", {"data": {"mask": _upload(), "base_version": "0"}}),
        ("grid_first_page", "get", f"/projects/{pid}/", {}),
        ("grid_later_page", "get", f"/projects/{pid}/?after={data['middle_cursor']}", {}),
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
        out[name] = {"status": response.status_code, "queries": len(captured), "ms": round(ms, 1),
                     "sql_ms": round(sum(float(q["time"]) for q in captured) * 1000, 1)}
    ReviewItem.objects.filter(leased_by=user).update(leased_by=None, lease_expires_at=None)
    return out


def _upload():
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("mask.png", mask_pngs(1, seed=3)[0], content_type="image/png")


# ----------------------------------------------------------------------------- client


class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.samples: dict[str, list[float]] = defaultdict(list)
        self.statuses: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.errors: dict[str, int] = defaultdict(int)
        self.error_samples: list[str] = []
        self.counters: dict[str, int] = defaultdict(int)

    def add(self, endpoint: str, ms: float, status: int | str, ok: bool, detail: str = "") -> None:
        with self.lock:
            self.samples[endpoint].append(ms)
            self.statuses[endpoint][str(status)] += 1
            if not ok:
                self.errors[endpoint] += 1
                if len(self.error_samples) < 20:
                    self.error_samples.append(f"{endpoint} {status} {detail[:200]}")

    def count(self, name: str) -> None:
        with self.lock:
            self.counters[name] += 1

    def summary(self, seconds: float) -> dict:
        endpoints = {}
        for name in sorted(self.samples):
            values = sorted(self.samples[name])
            endpoints[name] = {
                "count": len(values), "errors": self.errors.get(name, 0),
                "p50_ms": round(percentile(values, 50), 1), "p95_ms": round(percentile(values, 95), 1),
                "max_ms": round(values[-1], 1), "mean_ms": round(statistics.fmean(values), 1),
                "statuses": dict(self.statuses[name]),
            }
        total = sum(len(v) for v in self.samples.values())
        return {"seconds": round(seconds, 1), "requests": total, "requests_per_s": round(total / seconds, 1) if seconds else 0,
                "errors": sum(self.errors.values()), "counters": dict(self.counters),
                "endpoints": endpoints, "error_samples": self.error_samples}


class Client:
    """One user: a requests session with its cookies, CSRF token and keep-alive connection."""

    def __init__(self, base_url: str, recorder: Recorder):
        import requests

        self.base = base_url
        self.recorder = recorder
        self.session = requests.Session()
        origin = "https://" + base_url.split("://", 1)[1]
        self.session.headers.update({"X-Forwarded-Proto": "https", "Origin": origin, "Referer": origin + "/"})

    def request(self, endpoint: str, method: str, path: str, expect: tuple[int, ...], **kwargs):
        """The response, or None after a failure; timed and recorded under `endpoint`."""
        import requests

        if method == "POST":
            kwargs.setdefault("headers", {})["X-CSRFToken"] = self.session.cookies.get("csrftoken", "")
        started = time.perf_counter()
        try:
            response = self.session.request(method, self.base + path, allow_redirects=False, timeout=30, **kwargs)
            response.content  # noqa: B018 - the whole body is part of the latency
        except requests.RequestException as error:
            self.recorder.add(endpoint, (time.perf_counter() - started) * 1000, type(error).__name__, False, str(error))
            return None
        ms = (time.perf_counter() - started) * 1000
        for cookie in self.session.cookies:
            # Django marks the session and CSRF cookies Secure with DEBUG off; the TLS proxy is
            # only emulated here, so send them back over plain-HTTP loopback all the same.
            cookie.secure = False
        ok = response.status_code in expect
        self.recorder.add(endpoint, ms, response.status_code, ok, "" if ok else response.text)
        return response

    def login(self, username: str) -> bool:
        page = self.request("login_page", "GET", "/login/", (200,))
        if page is None:
            return False
        response = self.request("login", "POST", "/login/", (302,),
                                data={"username": username, "password": PASSWORD,
                                      "csrfmiddlewaretoken": self.session.cookies.get("csrftoken", "")})
        return response is not None and response.status_code == 302 and "sessionid" in self.session.cookies


class Scenario:
    def __init__(self, args, base_url: str, data: dict, clients: list[Client]):
        self.args = args
        self.base = base_url
        self.data = data
        self.clients = clients
        self.pid = data["project_id"]
        self.masks = mask_pngs(8, seed=2)
        self.think_s = args.think

    def think(self, rng: random.Random, deadline: float) -> bool:
        pause = self.think_s * rng.uniform(0.5, 1.5)
        if time.monotonic() + pause >= deadline:
            return False
        time.sleep(pause)
        return True

    # -- annotate: editor, mask, save; review queue page and a decision

    def edit(self, client: Client, rng: random.Random, deadline: float) -> None:
        image_id = rng.choice(self.data["edit_pool"])
        base = f"/projects/{self.pid}/images/{image_id}"
        if client.request("editor_page", "GET", base + "/edit/", (200,)) is None:
            return
        version = self._mask_version(client, base)
        if version is None or not self.think(rng, deadline):
            return
        for attempt in range(2):
            response = client.request(
                "mask_save", "POST", base + "/mask/", (200, 409),
                files={"mask": ("mask.png", rng.choice(self.masks), "image/png")},
                data={"base_version": str(version), "editing_seconds": f"{self.args.think:.1f}"},
            )
            if response is None or response.status_code != 409:
                return
            client.recorder.count("mask_save_409")
            if attempt == 0:
                client.recorder.count("mask_save_retry")
                version = self._mask_version(client, base)
                if version is None:
                    return

    def _mask_version(self, client: Client, base: str) -> int | None:
        response = client.request("mask_load", "GET", base + "/mask/current.png", (200,))
        if response is None or response.status_code != 200:
            return None
        return int(response.headers.get("X-Mask-Version", "0"))

    def review_page(self, client: Client, rng: random.Random, deadline: float) -> None:
        page = f"/projects/{self.pid}/review/"
        response = client.request("review_queue_page", "GET", page, (200,))
        if response is None or response.status_code != 200:
            return
        found = ITEM_RE.search(response.text)
        if not found:  # holds none (a first visit, or the lease ran out): "Start reviewing"
            claimed = client.request("review_claim", "POST", page + "next/", (303,))
            if claimed is None or claimed.status_code != 303:
                return
            response = client.request("review_queue_page", "GET", page, (200,))
            if response is None or response.status_code != 200:
                return
            found = ITEM_RE.search(response.text)
        if not found:
            client.recorder.count("review_queue_empty")
            return
        if not self.think(rng, deadline):
            return
        decision = "accept" if rng.random() < 0.5 else "reject"
        client.request("review_decide", "POST", f"/projects/{self.pid}/review/{found.group(1)}/{decision}/", (302,),
                       data={"seconds": f"{self.args.think:.1f}"})

    # -- browse: grid pages and the review API

    def grid(self, client: Client, rng: random.Random, deadline: float) -> None:
        which = rng.choice(["grid_first_page", "grid_later_page", "grid_status_filter"])
        query = {"grid_first_page": "", "grid_later_page": f"?after={self.data['middle_cursor']}",
                 "grid_status_filter": "?status=in_review"}[which]
        client.request(which, "GET", f"/projects/{self.pid}/{query}", (200,))

    def review_api(self, client: Client, rng: random.Random, deadline: float) -> None:
        response = client.request("review_next_api", "POST", f"/api/projects/{self.pid}/review/next/", (200, 204),
                                  headers={"Accept": "application/json"})
        if response is None or response.status_code != 200:
            if response is not None:
                client.recorder.count("review_queue_empty")
            return
        item = response.json()["id"]
        if not self.think(rng, deadline):
            return
        decision = "accept" if rng.random() < 0.5 else "reject"
        client.request("review_decide_api", "POST", f"/api/projects/{self.pid}/review/{item}/{decision}/", (200,),
                       json={"seconds": self.args.think}, headers={"Accept": "application/json"})

    def run(self, name: str, users: int | None = None, duration: float | None = None,
            think: float | None = None) -> dict:
        """`users` (default all) loop over the scenario's actions for `duration` seconds."""
        users = len(self.clients) if users is None else users
        duration = self.args.duration if duration is None else duration
        self.think_s = self.args.think if think is None else think
        actions = {"annotate": [(0.7, self.edit), (0.3, self.review_page)],
                   "browse": [(0.5, self.grid), (0.5, self.review_api)]}[name]
        recorder = Recorder()
        for client in self.clients:
            client.recorder = recorder
        start = time.monotonic()
        deadline = start + duration

        def user(index: int) -> None:
            rng = random.Random(f"{self.args.seed}-{name}-{index}")
            time.sleep(min(index / self.args.spawn_rate, duration / 2))  # ramp up
            client = self.clients[index]
            while time.monotonic() < deadline:
                roll, acc = rng.random(), 0.0
                for weight, action in actions:
                    acc += weight
                    if roll < acc:
                        break
                action(client, rng, deadline)
                if not self.think(rng, deadline):
                    break

        threads = [threading.Thread(target=user, args=(i,), daemon=True) for i in range(users)]
        load_before = uptime()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=duration + 60)
        summary = recorder.summary(time.monotonic() - start)
        summary["users"], summary["think_s"] = users, self.think_s
        summary["load_before"], summary["load_after"] = load_before, uptime()
        return summary


def login_all(args, base_url: str, usernames: list[str]) -> tuple[list[Client], dict]:
    """Log every user in through the form, a few at a time (PBKDF2 is deliberately slow)."""
    recorder = Recorder()
    clients = [Client(base_url, recorder) for _ in usernames]
    failures = []
    lock = threading.Semaphore(args.login_concurrency)

    def one(i: int) -> None:
        with lock:
            if not clients[i].login(usernames[i]):
                failures.append(usernames[i])

    started = time.monotonic()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(usernames))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    summary = recorder.summary(time.monotonic() - started)
    if failures:
        raise RuntimeError(f"{len(failures)} logins failed: {summary['error_samples'][:3]}")
    return clients, summary


# ----------------------------------------------------------------------------- report


def targets(result: dict) -> dict:
    out = {}
    annotate = result["scenarios"].get("annotate", {}).get("endpoints", {})
    browse = result["scenarios"].get("browse", {}).get("endpoints", {})
    if "mask_save" in annotate:
        value = annotate["mask_save"]["p95_ms"]
        out["mask_save_p95_ms"] = {"target": TARGET_MASK_SAVE_P95_MS, "value": value, "met": value < TARGET_MASK_SAVE_P95_MS}
    if "review_next_api" in browse:
        value = browse["review_next_api"]["p95_ms"]
        out["review_next_p95_ms"] = {"target": TARGET_REVIEW_NEXT_P95_MS, "value": value,
                                     "met": value < TARGET_REVIEW_NEXT_P95_MS}
    errors = sum(s.get("errors", 0) for s in [*result["scenarios"].values(), *result.get("baseline", {}).values()])
    out["errors"] = {"target": 0, "value": errors, "met": errors == 0}
    return out


def write_docs(result: dict, path: Path = DOCS) -> None:
    cfg = result["config"]
    lines = [
        "## Web load", "",
        f"gunicorn ({cfg['workers']} gthread workers x {cfg['threads']} threads) + PostgreSQL 15 + Redis + one Celery "
        f"worker, DEBUG=false, on {result['machine']['cpus']} shared CPUs ({result['machine']['cpu']}), "
        f"{result['date'][:10]}. {cfg['users']} logged-in users, closed loop, think time {cfg['think']} s "
        f"(uniform 0.5x-1.5x) between actions, {cfg['duration']} s per scenario; the load generator "
        f"(Python threads, requests) runs on the same machine. One project of {result['data']['images']:,} "
        f"images ({result['data']['review_items']:,} pending review items). Command:", "",
        f"    {result['command']}", "",
    ]
    for name, scenario in result["scenarios"].items():
        lines += [f"**{name}** ({scenario['requests']} requests, {scenario['requests_per_s']} req/s, "
                  f"{scenario['errors']} errors; counters {scenario['counters'] or 'none'}; "
                  f"load before `{scenario['load_before'].split('load average:')[-1].strip()}`, "
                  f"after `{scenario['load_after'].split('load average:')[-1].strip()}`)", "",
                  "| Endpoint | Requests | Errors | p50 ms | p95 ms | max ms |", "|---|---|---|---|---|---|"]
        for endpoint, s in scenario["endpoints"].items():
            lines.append(f"| {endpoint} | {s['count']} | {s['errors']} | {s['p50_ms']} | {s['p95_ms']} | {s['max_ms']} |")
        lines.append("")
    if result.get("baseline"):
        lines += ["Baseline: the same actions with 1 user and no think time (service time without queueing, "
                  "same shared machine):", "", "| Endpoint | Requests | p50 ms | p95 ms | max ms |", "|---|---|---|---|---|"]
        for scenario in result["baseline"].values():
            for endpoint, s in scenario["endpoints"].items():
                lines.append(f"| {endpoint} | {s['count']} | {s['p50_ms']} | {s['p95_ms']} | {s['max_ms']} |")
        lines.append("")
    if result.get("query_profile"):
        lines += ["SQL queries per request (`--query-profile`, one in-process request each): "
                  + ", ".join(f"{k} {v['queries']}" for k, v in result["query_profile"].items()) + ".", ""]
    lines += ["| Target | Goal | Measured | Met |", "|---|---|---|---|"]
    for name, t in result["targets"].items():
        goal = "0" if name == "errors" else f"< {t['target']:.0f} ms"
        lines.append(f"| {name} | {goal} | {t['value']} | {'yes' if t['met'] else 'no'} |")
    lines.append("")
    section = "\n".join(lines)
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    match = re.search(r"^## Web load\n.*?(?=^## |\Z)", text, flags=re.S | re.M)
    if match:
        notes = re.search(r"^<!-- web-load notes -->\n.*", match.group(0), flags=re.S | re.M)
        section += ("\n" + notes.group(0).rstrip() + "\n") if notes else ""
        text = text[:match.start()] + section + ("\n" if text[match.end():] else "") + text[match.end():]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


# ----------------------------------------------------------------------------- main


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per scenario")
    parser.add_argument("--spawn-rate", type=float, default=25.0, help="users started per second")
    parser.add_argument("--think", type=float, default=1.0, help="mean think time between a user's actions (s)")
    parser.add_argument("--scenarios", default="annotate,browse")
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--review-share", type=float, default=0.4, help="share of images with a pending review item")
    parser.add_argument("--pseudo-share", type=float, default=0.2, help="share of pseudo-labeled images")
    parser.add_argument("--edit-pool", type=int, default=1000, help="unlabeled images the annotators pick from")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker (gthread)")
    parser.add_argument("--login-concurrency", type=int, default=4)
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--db-name", default="segloop_bench")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379")
    parser.add_argument("--redis-db", type=int, default=13)
    parser.add_argument("--port", type=int, default=0, help="gunicorn port (default: a free one)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE the hot queries after seeding")
    parser.add_argument("--query-profile", action="store_true",
                        help="queries and in-process time per endpoint (one request each) after seeding")
    parser.add_argument("--baseline", type=float, default=10.0,
                        help="seconds of each scenario with one user and no think time first (0: skip)")
    parser.add_argument("--keep-alive", type=int, default=5, help="gunicorn keep-alive seconds")
    parser.add_argument("--jsonl", type=Path, default=DEFAULT_JSONL)
    parser.add_argument("--no-jsonl", action="store_true")
    parser.add_argument("--write-docs", action="store_true", help="replace the '## Web load' section of docs/benchmarks.md")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = set(scenarios) - {"annotate", "browse"}
    if unknown:
        raise SystemExit(f"unknown scenarios {sorted(unknown)}; choose from annotate, browse")
    services = Services(args)

    def on_signal(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    result = {"bench": "web_load", "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "command": " ".join([".venv/bin/python", "bench/web_load.py", *(argv if argv is not None else sys.argv[1:])]),
              "machine": machine(), "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
              "load_start": uptime()}
    try:
        services.create_database()
        services.claim_redis_db()
        services.django_setup()
        from django.core.management import call_command
        from django.db import connections

        started = time.perf_counter()
        call_command("migrate", verbosity=0, interactive=False)
        log(f"migrated in {time.perf_counter() - started:.1f} s")
        services.media_files()
        data = seed(args)
        if args.explain:
            result["explain"] = explain(data)
            print(json.dumps(result["explain"], indent=1), file=sys.stderr)
        if args.query_profile:
            result["query_profile"] = query_profile(data)
            log(f"query profile: {json.dumps(result['query_profile'])}")
        connections.close_all()
        services.start_celery()
        services.start_gunicorn()
        result["celery_ping_s"] = round(services.check_celery(), 2)
        log(f"gunicorn on {services.base_url}, celery answered ping")
        clients, login = login_all(args, services.base_url, data["usernames"])
        log(f"{len(clients)} users logged in in {login['seconds']} s")
        result["login"] = login
        result["data"] = {k: v for k, v in data.items() if k not in ("usernames", "edit_pool")}
        scenario = Scenario(args, services.base_url, data, clients)
        result["scenarios"], result["baseline"] = {}, {}
        if args.baseline > 0:  # service time without queueing: one user, no think time
            for name in scenarios:
                log(f"baseline {name}: 1 user, no think time, {args.baseline:.0f} s")
                result["baseline"][name] = scenario.run(name, users=1, duration=args.baseline, think=0.0)
        for name in scenarios:
            log(f"scenario {name}: {args.users} users for {args.duration:.0f} s")
            result["scenarios"][name] = scenario.run(name)
        result["targets"] = targets(result)
        gunicorn = dict(services.procs).get("gunicorn")
        if gunicorn is not None and gunicorn.poll() is not None:
            raise RuntimeError(f"gunicorn died during the run:\n{services.log_tail('gunicorn')}")
        result["server_log_tail"] = services.log_tail("gunicorn", 10)
        result["server_errors"] = services.log_errors("gunicorn")
    finally:
        services.stop()
    result["load_end"] = uptime()
    text = json.dumps(result, indent=1)
    print(text)
    if not args.no_jsonl:
        args.jsonl.parent.mkdir(parents=True, exist_ok=True)
        with args.jsonl.open("a") as handle:
            handle.write(json.dumps(result) + "\n")
    if args.write_docs:
        write_docs(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
