"""Which URLs a webhook may call (the SSRF rule).

Only http and https, with a host name or address, and no user:password part. Every address
the host resolves to must be public: loopback, private (10/8, 172.16/12, 192.168/16, fc00::/7),
link-local (169.254/16: cloud metadata), carrier-grade NAT, multicast, reserved and
unspecified addresses are refused, at registration and again before every delivery (a name
may resolve differently later). Redirects are not followed. settings.SEGLOOP_WEBHOOK_ALLOW_PRIVATE
(env SEGLOOP_WEBHOOK_ALLOW_PRIVATE) lifts the address rule, for tests on 127.0.0.1 and for
intranet deployments. A name re-resolved between the check and the connection (DNS rebinding)
is not caught; deployments that need that guard route deliveries through an egress proxy.
"""

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

URL_SCHEME = "A webhook URL starts with http:// or https://."
URL_HOST = "A webhook URL names a host."
URL_CREDENTIALS = "A webhook URL carries no user name or password: use the signing secret."
URL_UNRESOLVED = "The host {host} of the webhook URL cannot be resolved."
URL_PRIVATE = (
    "The webhook URL points at a private, loopback or link-local address ({address}); "
    "only public addresses may be called."
)


class TargetRefused(ValueError):
    """The URL may not be called; the message is for people."""


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def target_check(url: str) -> None:
    """TargetRefused unless `url` is http(s) to a host whose addresses are all public (or the
    setting allows private ones)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise TargetRefused(URL_SCHEME)
    if parts.username or parts.password:
        raise TargetRefused(URL_CREDENTIALS)
    host = parts.hostname
    if not host:
        raise TargetRefused(URL_HOST)
    if settings.SEGLOOP_WEBHOOK_ALLOW_PRIVATE:
        return
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        addresses = {str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)}
    except (socket.gaierror, UnicodeError, ValueError) as error:
        raise TargetRefused(URL_UNRESOLVED.format(host=host)) from error
    private = sorted(a for a in addresses if not _is_public(a))
    if private:
        raise TargetRefused(URL_PRIVATE.format(address=private[0]))
