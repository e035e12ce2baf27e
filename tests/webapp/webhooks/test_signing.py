"""The signature header: HMAC-SHA256 over "<timestamp>." + the raw body, timestamped against replays."""

import hashlib
import hmac
import time

from webapp.webhooks.signing import TOLERANCE_SECONDS, signature, signature_valid

SECRET = "s3cret"
BODY = b'{"event":"round.ended"}'


def test_signature_is_hmac_sha256_of_timestamp_dot_body():
    expected = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert signature(secret=SECRET, body=BODY, timestamp=1700000000) == f"t=1700000000,v1={expected}"


def test_a_fresh_signature_is_valid():
    now = int(time.time())
    assert signature_valid(secret=SECRET, body=BODY, header=signature(secret=SECRET, body=BODY, timestamp=now))


def test_another_body_or_secret_is_invalid():
    header = signature(secret=SECRET, body=BODY, timestamp=int(time.time()))
    assert not signature_valid(secret=SECRET, body=BODY + b" ", header=header)
    assert not signature_valid(secret="other", body=BODY, header=header)


def test_an_old_timestamp_is_a_replay():
    old = int(time.time()) - TOLERANCE_SECONDS - 5
    assert not signature_valid(secret=SECRET, body=BODY, header=signature(secret=SECRET, body=BODY, timestamp=old))


def test_a_malformed_header_is_invalid():
    for header in ("", "sha256=abc", "t=x,v1=abc", "v1=abc"):
        assert not signature_valid(secret=SECRET, body=BODY, header=header)
