"""Login throttling with django-axes: what a locked-out client sees, and whose address it is.

Every login (`/login/`, `/admin/login/`, `/api/auth/token/`) authenticates through
`axes.backends.AxesStandaloneBackend`, which counts failures in the database (shared by every
web process) per account and per client address. After `AXES_FAILURE_LIMIT` failures within
the cool-off time, logins for that account, and from that address, are refused, even with the
right password, until the cool-off has passed since the last attempt or an admin resets them
(`manage.py axes_reset`, `axes_reset_username NAME`, `axes_reset_ip ADDRESS`, or the
"Access attempts" page of the admin site).
"""

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.template.response import TemplateResponse

LOCKED_OUT = (
    "Too many failed logins for this account or from this address: logging in is blocked for "
    "{minutes} minutes after the last attempt. An admin can lift the block sooner."
)


def locked_out_message() -> str:
    return LOCKED_OUT.format(minutes=round(settings.AXES_COOLOFF_TIME.total_seconds() / 60))


def lockout_response(request: HttpRequest, original_response=None, credentials=None):
    """AXES_LOCKOUT_CALLABLE: the login pages show the message; the API answers JSON."""
    status = settings.AXES_HTTP_RESPONSE_CODE
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": locked_out_message()}, status=status)
    return TemplateResponse(
        request, "registration/locked_out.html", {"message": locked_out_message()}, status=status
    ).render()


def client_ip(request: HttpRequest) -> str | None:
    """AXES_CLIENT_IP_CALLABLE: the client's address as the nearest trusted proxy saw it.

    Behind SEGLOOP_TRUSTED_PROXIES proxies (a TLS proxy in front of gunicorn: 1), each proxy
    appends the address it received from to X-Forwarded-For, so the client is the entry that
    many places from the end; entries further left are the client's own say and are ignored.
    With no proxies, or a shorter header, it is REMOTE_ADDR.
    """
    proxies = settings.SEGLOOP_TRUSTED_PROXIES
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if proxies and len(forwarded) >= proxies:
        return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR")
