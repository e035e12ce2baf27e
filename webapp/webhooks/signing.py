"""The signature of a webhook delivery: HMAC-SHA256 over the timestamp and the body.

Header: ``X-Segloop-Signature: t=<unix seconds>,v1=<hex>``, where
``hex = HMAC_SHA256(key=webhook.secret, msg=f"{t}.".encode() + body)``. A receiver recomputes
it over the raw body bytes, compares in constant time, and refuses old timestamps (replays).
"""

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Segloop-Signature"
EVENT_HEADER = "X-Segloop-Event"
DELIVERY_HEADER = "X-Segloop-Delivery"
TOLERANCE_SECONDS = 300


def signature(*, secret: str, body: bytes, timestamp: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def signature_valid(
    *, secret: str, body: bytes, header: str, now: float | None = None, tolerance: int = TOLERANCE_SECONDS
) -> bool:
    """What a receiver does (tests and docs use it): True if `header` signs `body` recently."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = signature(secret=secret, body=body, timestamp=timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, given)
