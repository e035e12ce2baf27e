"""A real S3-compatible server (moto's standalone server, on 127.0.0.1 and a free port) that
the tests start themselves, a fresh bucket per test, and the settings that point at it: in
this process through `settings`, in worker processes through the environment they inherit."""

import socket
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from webapp.object_storage import s3_storages

ACCESS_KEY = "segloop-test-key"
SECRET_KEY = "segloop-test-secret"
REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def s3_endpoint():
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@dataclass
class Bucket:
    name: str
    client: Any  # boto3's S3 client, with the test's keys

    def keys(self, prefix: str = "") -> list[str]:
        listing = self.client.list_objects_v2(Bucket=self.name, Prefix=prefix)
        return sorted(item["Key"] for item in listing.get("Contents", []))

    def read(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.name, Key=key)["Body"].read()


@pytest.fixture
def s3(s3_endpoint, settings, monkeypatch, tmp_path) -> Bucket:
    """A new bucket, the storages on it, and an empty local MEDIA_ROOT and MODELS_ROOT (which
    the tests check stay empty of media). The same settings go to the environment, for workers."""
    name = f"segloop-{uuid.uuid4().hex[:12]}"
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name=REGION,
    )
    client.create_bucket(Bucket=name)
    env = {
        "SEGLOOP_S3_BUCKET": name,
        "SEGLOOP_S3_ENDPOINT_URL": s3_endpoint,
        "SEGLOOP_S3_REGION": REGION,
        "SEGLOOP_S3_ADDRESSING_STYLE": "path",
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings.STORAGES = s3_storages(
        bucket=name,
        endpoint_url=s3_endpoint,
        region=REGION,
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        addressing_style="path",
    )
    settings.MEDIA_ROOT = tmp_path / "web-media"
    settings.MODELS_ROOT = tmp_path / "web-models"
    settings.SEGLOOP_FILE_CACHE = tmp_path / "web-cache"
    return Bucket(name=name, client=client)


def files_under(root) -> list[Path]:
    root = Path(root)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []
