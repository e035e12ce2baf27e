"""STORAGES for S3-compatible object storage (django-storages), built from plain values so that
settings (from the environment) and tests (against their own server) make the same thing."""

from typing import Any

S3_BACKEND = "storages.backends.s3.S3Storage"


def s3_storages(
    *,
    bucket: str,
    endpoint_url: str = "",
    region: str = "",
    access_key: str = "",
    secret_key: str = "",
    prefix: str = "",
    addressing_style: str = "",
    url_expire_seconds: int = 300,
) -> dict[str, dict[str, Any]]:
    """The "default" storage (media: images, masks) under <prefix>/media/ and the "checkpoints"
    storage under <prefix>/models/, in one bucket. Objects are private (no public ACL); any URL
    the storage makes is signed and expires after ``url_expire_seconds``. Empty values leave
    boto3 its own defaults (AWS itself, the credential chain of the machine's role)."""
    options: dict[str, Any] = {
        "bucket_name": bucket,
        "endpoint_url": endpoint_url or None,
        "region_name": region or None,
        "access_key": access_key or None,
        "secret_key": secret_key or None,
        "default_acl": "private",
        "querystring_auth": True,
        "querystring_expire": url_expire_seconds,
        "addressing_style": addressing_style or None,
        "signature_version": "s3v4",  # SigV4: what S3-compatible servers accept; URLs carry their expiry
    }
    root = prefix.strip("/")
    return {
        "default": {
            "BACKEND": S3_BACKEND,
            # A taken name gets a suffix, as on the local filesystem.
            "OPTIONS": {**options, "location": "/".join(filter(None, [root, "media"])), "file_overwrite": False},
        },
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        "checkpoints": {
            "BACKEND": S3_BACKEND,
            # A checkpoint is stored under exactly its path under MODELS_ROOT: the rows name it so.
            "OPTIONS": {**options, "location": "/".join(filter(None, [root, "models"])), "file_overwrite": True},
        },
    }
