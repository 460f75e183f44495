"""Who the client is behind a reverse proxy.

Gunicorn never takes the client's address from X-Forwarded-For, so behind nginx every request
would seem to come from 127.0.0.1 and every per-client limit would fall on everyone at once.
The proxy's header is honoured here, and only where it can be believed: the request must come
straight from one of the proxies (FORWARDED_ALLOW_IPS, the list gunicorn trusts for the
scheme), and only the last TRUSTED_PROXY_HOPS entries count — the ones those proxies appended
themselves. Anything a client wrote before them, or sent without a proxy, is ignored.
"""

from __future__ import annotations

import ipaddress

from werkzeug.middleware.proxy_fix import ProxyFix


def parse_networks(spec: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network] | None:
    """The proxies' addresses or networks ("127.0.0.1,10.0.0.0/8"); None for "*" (any peer)."""
    items = [item.strip() for item in spec.split(",") if item.strip()]
    if "*" in items:
        return None
    return [ipaddress.ip_network(item, strict=False) for item in items]


class TrustedProxies:
    """WSGI middleware: ProxyFix for requests from a trusted proxy, nothing for anyone else."""

    def __init__(self, app, hops: int, proxies: str):
        self.app = app
        # The host too: without PUBLIC_BASE_URL, QR codes carry the address people reach the
        # proxy by (backend/core/urls.py), not the one the proxy reaches gunicorn by.
        self.fixed = ProxyFix(app, x_for=hops, x_proto=hops, x_host=hops)
        self.networks = parse_networks(proxies)

    def trusts(self, peer: str) -> bool:
        if self.networks is None:
            return True
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            # Not an IP address: a Unix socket, which only the proxy on this host can reach
            # (gunicorn trusts it the same way).
            return True
        return any(address in network for network in self.networks)

    def __call__(self, environ, start_response):
        handler = self.fixed if self.trusts(environ.get("REMOTE_ADDR", "")) else self.app
        return handler(environ, start_response)
