"""The scenarios: closed loops of users with think time. ``annotate``: the editor (page, mask,
save with one retry on a 409) and the review queue page; ``browse``: the image grid and the
review API. Each returns its recorder's summary."""

from __future__ import annotations

import random
import threading
import time

from report import uptime_line  # bench/ is on sys.path when a script runs

from .client import Client, Recorder
from .config import ITEM_RE, WebLoadConfig
from .data import SeedData, mask_pngs


class Scenario:
    """One project's users acting on it; run() plays one scenario for a while."""

    def __init__(self, config: WebLoadConfig, base_url: str, data: SeedData, clients: list[Client]):
        self.config = config
        self.base = base_url
        self.data = data
        self.clients = clients
        self.pid = data.project_id
        self.masks = mask_pngs(8, seed=2)
        self.think_s = config.think

    def think(self, rng: random.Random, deadline: float) -> bool:
        pause = self.think_s * rng.uniform(0.5, 1.5)
        if time.monotonic() + pause >= deadline:
            return False
        time.sleep(pause)
        return True

    # -- annotate: editor, mask, save; review queue page and a decision

    def edit(self, client: Client, rng: random.Random, deadline: float) -> None:
        image_id = rng.choice(self.data.edit_pool)
        base = f"/projects/{self.pid}/images/{image_id}"
        if client.request("editor_page", "GET", base + "/edit/", (200,)) is None:
            return
        version = self._mask_version(client, base)
        if version is None or not self.think(rng, deadline):
            return
        for attempt in range(2):
            response = client.request(
                "mask_save",
                "POST",
                base + "/mask/",
                (200, 409),
                files={"mask": ("mask.png", rng.choice(self.masks), "image/png")},
                data={"base_version": str(version), "editing_seconds": f"{self.config.think:.1f}"},
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
        client.request(
            "review_decide",
            "POST",
            f"/projects/{self.pid}/review/{found.group(1)}/{decision}/",
            (302,),
            data={"seconds": f"{self.config.think:.1f}"},
        )

    # -- browse: grid pages and the review API

    def grid(self, client: Client, rng: random.Random, deadline: float) -> None:
        which = rng.choice(["grid_first_page", "grid_later_page", "grid_status_filter"])
        query = {
            "grid_first_page": "",
            "grid_later_page": f"?after={self.data.middle_cursor}",
            "grid_status_filter": "?status=in_review",
        }[which]
        client.request(which, "GET", f"/projects/{self.pid}/{query}", (200,))

    def review_api(self, client: Client, rng: random.Random, deadline: float) -> None:
        response = client.request(
            "review_next_api",
            "POST",
            f"/api/projects/{self.pid}/review/next/",
            (200, 204),
            headers={"Accept": "application/json"},
        )
        if response is None or response.status_code != 200:
            if response is not None:
                client.recorder.count("review_queue_empty")
            return
        item = response.json()["id"]
        if not self.think(rng, deadline):
            return
        decision = "accept" if rng.random() < 0.5 else "reject"
        client.request(
            "review_decide_api",
            "POST",
            f"/api/projects/{self.pid}/review/{item}/{decision}/",
            (200,),
            json={"seconds": self.config.think},
            headers={"Accept": "application/json"},
        )

    def run(
        self, name: str, users: int | None = None, duration: float | None = None, think: float | None = None
    ) -> dict:
        """`users` (default all) loop over the scenario's actions for `duration` seconds."""
        users = len(self.clients) if users is None else users
        duration = self.config.duration if duration is None else duration
        self.think_s = self.config.think if think is None else think
        actions = {
            "annotate": [(0.7, self.edit), (0.3, self.review_page)],
            "browse": [(0.5, self.grid), (0.5, self.review_api)],
        }[name]
        recorder = Recorder()
        for client in self.clients:
            client.recorder = recorder
        start = time.monotonic()
        deadline = start + duration

        def user(index: int) -> None:
            rng = random.Random(f"{self.config.seed}-{name}-{index}")
            time.sleep(min(index / self.config.spawn_rate, duration / 2))  # ramp up
            client = self.clients[index]
            while time.monotonic() < deadline:
                roll, acc = rng.random(), 0.0
                for weight, action in actions:  # noqa: B007 - the loop picks `action` by weight
                    acc += weight
                    if roll < acc:
                        break
                action(client, rng, deadline)
                if not self.think(rng, deadline):
                    break

        threads = [threading.Thread(target=user, args=(i,), daemon=True) for i in range(users)]
        load_before = uptime_line()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=duration + 60)
        summary = recorder.summary(time.monotonic() - start)
        summary["users"], summary["think_s"] = users, self.think_s
        summary["load_before"], summary["load_after"] = load_before, uptime_line()
        return summary
