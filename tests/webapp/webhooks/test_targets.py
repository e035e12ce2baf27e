"""The SSRF rule: only http(s) to public addresses, unless SEGLOOP_WEBHOOK_ALLOW_PRIVATE."""

import pytest
from django.test import override_settings

from webapp.webhooks.targets import (
    URL_CREDENTIALS,
    URL_HOST,
    URL_PRIVATE,
    URL_SCHEME,
    URL_UNRESOLVED,
    TargetRefused,
    target_check,
)


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("http://127.0.0.1:8000/hook", "127.0.0.1"),
        ("http://localhost/hook", None),  # ::1 or 127.0.0.1, whichever resolves first
        ("http://10.1.2.3/hook", "10.1.2.3"),
        ("http://172.16.0.5/hook", "172.16.0.5"),
        ("https://192.168.1.10/hook", "192.168.1.10"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254"),
        ("http://100.64.0.1/hook", "100.64.0.1"),
        ("http://0.0.0.0/hook", "0.0.0.0"),
        ("http://[::1]/hook", "::1"),
        ("http://[fd00::1]/hook", "fd00::1"),
        ("http://[::ffff:127.0.0.1]/hook", "::ffff:127.0.0.1"),
        ("http://224.0.0.1/hook", "224.0.0.1"),
    ],
)
def test_private_loopback_and_link_local_targets_are_refused(settings, url, address):
    settings.SEGLOOP_WEBHOOK_ALLOW_PRIVATE = False
    with pytest.raises(TargetRefused) as refused:
        target_check(url)
    if address is not None:
        assert str(refused.value) == URL_PRIVATE.format(address=address)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://93.184.216.34/hook", URL_SCHEME),
        ("file:///etc/passwd", URL_SCHEME),
        ("https://user:pw@93.184.216.34/hook", URL_CREDENTIALS),
        ("https:///hook", URL_HOST),
        ("https://no-such-host.invalid/hook", URL_UNRESOLVED.format(host="no-such-host.invalid")),
    ],
)
def test_other_schemes_credentials_and_unresolved_hosts_are_refused(url, message):
    with pytest.raises(TargetRefused) as refused:
        target_check(url)
    assert str(refused.value) == message


def test_public_address_is_allowed(settings):
    settings.SEGLOOP_WEBHOOK_ALLOW_PRIVATE = False
    target_check("https://93.184.216.34/hook")
    target_check("http://[2606:2800:220:1:248:1893:25c8:1946]/hook")


@override_settings(SEGLOOP_WEBHOOK_ALLOW_PRIVATE=True)
def test_the_setting_allows_private_addresses_but_not_other_schemes():
    target_check("http://127.0.0.1:8000/hook")
    target_check("http://10.1.2.3/hook")
    with pytest.raises(TargetRefused):
        target_check("file:///etc/passwd")


def test_the_setting_is_off_by_default():
    from django.conf import settings

    assert settings.SEGLOOP_WEBHOOK_ALLOW_PRIVATE is False
