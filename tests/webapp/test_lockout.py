"""Login throttling (django-axes): the pages and the token endpoint lock an account and an
address after too many failures, even for the right password, with a message; state lives in
the database; `manage.py axes_reset` lifts it."""

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from webapp.lockout import LOCKED_OUT, client_ip, locked_out_message

pytestmark = pytest.mark.django_db

ATTACKER = "203.0.113.7"
ELSEWHERE = "198.51.100.20"


def page_login(client, username, password, address=ATTACKER, url=None):
    return client.post(url or reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address)


def token_login(client, username, password, address=ATTACKER):
    return client.post(
        reverse("api:token"),
        {"username": username, "password": password},
        content_type="application/json",
        REMOTE_ADDR=address,
    )


def fail_until_locked(settings, login, username):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        login(Client(), username, "wrong-password")


def test_the_message_names_the_cool_off(settings):
    assert locked_out_message() == LOCKED_OUT.format(minutes=15)
    assert settings.AXES_COOLOFF_TIME.total_seconds() == 15 * 60
    assert settings.AXES_FAILURE_LIMIT <= 20  # the probe got 60 tries in


def test_login_page_refuses_the_right_password_after_too_many_wrong_ones(settings, client, member):
    for attempt in range(settings.AXES_FAILURE_LIMIT - 1):
        response = page_login(client, "member", f"wrong-{attempt}")
        assert response.status_code == 200 and 'class="error"' in response.content.decode()
    response = page_login(client, "member", "wrong-last")
    assert response.status_code == 429
    response = page_login(Client(), "member", "pw-member-123")  # a new session: state is in the database
    assert response.status_code == 429
    assert locked_out_message() in response.content.decode()
    assert "_auth_user_id" not in response.wsgi_request.session


def test_admin_login_is_throttled_too(settings, client, admin_user):
    url = reverse("admin:login")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        page_login(client, "admin", "wrong", url=url)
    response = page_login(client, "admin", "password", url=url)
    assert response.status_code == 429
    assert locked_out_message() in response.content.decode()
    assert client.get(reverse("admin:index")).status_code == 302


def test_token_endpoint_refuses_the_right_password_after_too_many_wrong_ones(settings, client, member):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = token_login(client, "member", "wrong")
        assert response.status_code == 400
    assert token_login(client, "member", "wrong").status_code == 429
    response = token_login(client, "member", "pw-member-123")
    assert response.status_code == 429
    assert response.json() == {"detail": locked_out_message()}


def test_failures_on_the_page_count_for_the_token_endpoint(settings, member):
    fail_until_locked(settings, page_login, "member")
    assert token_login(Client(), "member", "pw-member-123").status_code == 429


def test_another_account_from_another_address_is_unaffected(settings, member, owner):
    fail_until_locked(settings, token_login, "member")
    assert token_login(Client(), "owner", "pw-owner-123", address=ELSEWHERE).status_code == 200
    response = page_login(Client(), "owner", "pw-owner-123", address=ELSEWHERE)
    assert response.status_code == 302


def test_the_account_is_locked_from_every_address(settings, member):
    fail_until_locked(settings, page_login, "member")
    assert page_login(Client(), "member", "pw-member-123", address=ELSEWHERE).status_code == 429


def test_the_address_is_locked_for_every_account(settings, member, owner):
    for attempt in range(settings.AXES_FAILURE_LIMIT):
        token_login(Client(), f"guess-{attempt}", "wrong")  # password spraying over many names
    assert token_login(Client(), "owner", "pw-owner-123").status_code == 429
    assert token_login(Client(), "owner", "pw-owner-123", address=ELSEWHERE).status_code == 200


def test_axes_reset_lifts_the_lock(settings, member):
    fail_until_locked(settings, page_login, "member")
    call_command("axes_reset", stdout=None)
    assert page_login(Client(), "member", "pw-member-123").status_code == 302


def test_successful_logins_are_not_throttled(settings, member):
    for _ in range(settings.AXES_FAILURE_LIMIT + 2):
        assert token_login(Client(), "member", "pw-member-123").status_code == 200


class FakeRequest:
    def __init__(self, remote, forwarded=None):
        self.META = {"REMOTE_ADDR": remote}
        if forwarded is not None:
            self.META["HTTP_X_FORWARDED_FOR"] = forwarded


def test_client_address_is_remote_addr_without_trusted_proxies(settings):
    settings.SEGLOOP_TRUSTED_PROXIES = 0
    assert client_ip(FakeRequest("10.0.0.2", forwarded="1.2.3.4")) == "10.0.0.2"


def test_behind_a_proxy_the_client_is_what_the_proxy_appended(settings):
    settings.SEGLOOP_TRUSTED_PROXIES = 1
    # The client wrote "1.2.3.4" itself; the proxy appended the address it saw.
    assert client_ip(FakeRequest("10.0.0.2", forwarded="1.2.3.4, 203.0.113.9")) == "203.0.113.9"
    assert client_ip(FakeRequest("10.0.0.2")) == "10.0.0.2"
    settings.SEGLOOP_TRUSTED_PROXIES = 2
    assert client_ip(FakeRequest("10.0.0.2", forwarded="1.2.3.4, 203.0.113.9, 10.0.0.3")) == "203.0.113.9"
