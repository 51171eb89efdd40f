"""The client's address for django-axes, trusting X-Forwarded-For only as far as our own proxies."""

from ipaddress import ip_address

from django.conf import settings
from django.http import HttpRequest


def _valid(value: str) -> str | None:
    try:
        return str(ip_address(value.strip()))
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str | None:
    """REMOTE_ADDR, or the address our TRUSTED_PROXY_COUNT proxies saw, read from the right of the header.

    None when there is no valid address (axes stores addresses in an inet column on PostgreSQL).
    """
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies:
        hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
        # Each trusted proxy appends the address it saw; anything further left is the client's to invent.
        if len(hops) >= proxies and (address := _valid(hops[-proxies])):
            return address
    return _valid(request.META.get("REMOTE_ADDR", ""))
