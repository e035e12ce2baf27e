"""A real HTTP receiver on 127.0.0.1, API clients, hooks and review items for the webhooks tests."""

import http.server
import threading
from dataclasses import dataclass, field

import numpy as np
import pytest

from ml.png import gray_png

PUBLIC_URL = "https://93.184.216.34/segloop-hook"  # an address literal: checked without DNS


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """What the server got, and the statuses it answers with, in order (then 200)."""

    url: str
    statuses: list[int] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self) -> int:
        with self.lock:
            return self.statuses.pop(0) if self.statuses else 200


@pytest.fixture
def receiver():
    """http.server in a thread on 127.0.0.1 (a free port), recording every POST."""
    state = Receiver(url="")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with state.lock:
                state.requests.append(Received(self.path, dict(self.headers.items()), body))
            code = state.answer()
            self.send_response(code)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def allow_private(settings):
    settings.SEGLOOP_WEBHOOK_ALLOW_PRIVATE = True


@pytest.fixture
def api_for():
    """An APIClient that sends `Authorization: Token <key>` for `user` (anonymous for None)."""
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    def make(user=None):
        client = APIClient()
        if user is not None:
            token, _ = Token.objects.get_or_create(user=user)
            client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return make


@pytest.fixture
def hook(project, owner):
    """A webhook to a public address, for every event."""
    from webapp.webhooks.models import WebhookEvent
    from webapp.webhooks.services import webhook_create

    return webhook_create(project=project, user=owner, url=PUBLIC_URL, events=list(WebhookEvent.values))


@pytest.fixture
def review_items(project, make_image):
    """Two pending review items (made as the pseudo-labeller does)."""
    from webapp.images.models import ImageStatus, MaskSource
    from webapp.images.services import MaskScores, mask_save
    from webapp.review.services import review_item_create

    items = []
    for score in (0.3, 0.1):
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
                confidence_png=gray_png(np.full((12, 16), 80, np.uint8)),
                disagreement_png=gray_png(np.zeros((12, 16), np.uint8)),
            )
        )
    return items
