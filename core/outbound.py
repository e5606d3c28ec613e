"""Requests Custodian sends to addresses its users typed in (quality-alert webhooks), without letting them
reach the inside of the network (SSRF).

- Only http and https.
- The host is resolved when the request is sent and every address it resolves to is checked: loopback,
  private, link-local, multicast, reserved, unspecified and other non-global addresses are refused (IPv4
  and IPv6, IPv4-mapped and embedded IPv4 too), unless the host, or a network holding its address, is listed
  in ``CUSTODIAN_WEBHOOK_ALLOWED_HOSTS`` (for internal alert receivers).
- The connection goes to the address that was checked, never through a second lookup (no DNS rebinding);
  TLS still verifies the certificate against the host name.
- No redirects (a 3xx is a refusal like any other status); connecting may take 3 s and the whole exchange 5 s.
- Failures are told in general words ("could not connect", "HTTP 502"), never with the remote's answer or
  the operating system's message, so the sender cannot be used to scan ports.
"""

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

__all__ = [
    "OutboundRefused",
    "SCHEMES",
    "address_is_public",
    "url_problem",
    "post_json",
    "DeliveryResult",
]

SCHEMES = ("http", "https")
CONNECT_TIMEOUT = 3.0
TOTAL_TIMEOUT = 5.0
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class OutboundRefused(Exception):
    """The destination is not one Custodian may send to; the message says why in general words."""


@dataclass(frozen=True)
class DeliveryResult:
    """How a request ended: `status` is the HTTP status, or None when no answer came; `problem` is a
    message fit for a user, empty when the receiver accepted (2xx)."""

    status: int | None
    problem: str = ""

    @property
    def delivered(self) -> bool:
        return not self.problem


def _embedded_ipv4(address: Address) -> ipaddress.IPv4Address | None:
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped:
            return address.ipv4_mapped
        if address.sixtofour:
            return address.sixtofour
        if address.teredo:
            return address.teredo[1]
    return None


def address_is_public(address: Address) -> bool:
    """Whether an address is a public unicast one (and so is any IPv4 address it carries)."""
    embedded = _embedded_ipv4(address)
    if embedded is not None and not address_is_public(embedded):
        return False
    return address.is_global and not (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def _allowed_entries() -> list[str]:
    entries = getattr(settings, "CUSTODIAN_WEBHOOK_ALLOWED_HOSTS", [])
    if isinstance(entries, str):
        entries = entries.split(",")
    return [entry.strip().lower().strip("[]") for entry in entries if entry.strip()]


def _allow_listed(host: str, address: Address | None = None) -> bool:
    """Whether the host name, its literal address or a network listed holds it is allow-listed."""
    host = host.lower().strip("[]")
    for entry in _allowed_entries():
        if entry == host:
            return True
        if address is not None:
            try:
                if address in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                continue
    return False


def _literal_address(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def url_problem(url: str) -> str | None:
    """Why a webhook URL cannot be saved, if it cannot: its scheme, or a host that is a blocked address
    (an IP literal or localhost). Host names are checked again, resolved, when the request is sent."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in SCHEMES:
        return f"Use an http:// or https:// address; '{parts.scheme or url}' is not allowed."
    host = (parts.hostname or "").lower()
    if not host:
        return "The address has no host name."
    if _allow_listed(host, _literal_address(host)):
        return None
    literal = _literal_address(host)
    if host == "localhost" or host.endswith(".localhost") or (literal and not address_is_public(literal)):
        return (
            f"'{host}' is a loopback, private or reserved address, which webhooks may not reach. "
            "An internal alert receiver must be listed in CUSTODIAN_WEBHOOK_ALLOWED_HOSTS."
        )
    return None


def _checked_addresses(host: str, port: int) -> list[tuple[int, str]]:
    """(family, address) pairs to connect to, every one public or allow-listed; OutboundRefused if none."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        raise OutboundRefused("could not connect (the host name does not resolve)") from None
    pairs = []
    for family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(sockaddr[0].split("%")[0])
        if not (address_is_public(address) or _allow_listed(host, address)):
            # One blocked address is enough to refuse: a name that also points inside is not trusted.
            raise OutboundRefused(
                "the webhook address is not allowed: it points to a loopback, private or reserved address "
                "(list an internal receiver in CUSTODIAN_WEBHOOK_ALLOWED_HOSTS)"
            )
        pairs.append((family, str(address)))
    return pairs


class _PinnedConnection(http.client.HTTPConnection):
    """An HTTP connection to an address checked beforehand, whatever DNS says by now."""

    def __init__(self, host, port, *, address: str, family: int, deadline: float):
        super().__init__(host, port, timeout=CONNECT_TIMEOUT)
        self.pinned = (address, family)
        self.deadline = deadline

    def connect(self):
        address, family = self.pinned
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(min(CONNECT_TIMEOUT, max(self.deadline - time.monotonic(), 0.01)))
        try:
            sock.connect((address, self.port))
        except BaseException:
            sock.close()
            raise
        sock.settimeout(max(self.deadline - time.monotonic(), 0.01))
        self.sock = self._wrap(sock)

    def _wrap(self, sock):
        return sock


class _PinnedHTTPSConnection(_PinnedConnection):
    default_port = http.client.HTTPS_PORT

    def _wrap(self, sock):
        # The certificate is checked against the host name typed in, not the address connected to.
        return ssl.create_default_context().wrap_socket(sock, server_hostname=self.host)


def post_json(url: str, body: bytes) -> DeliveryResult:
    """POST a JSON body to a user-given URL under the rules of this module; never raises for the remote's
    faults, OutboundRefused when the URL itself is not allowed."""
    problem = url_problem(url)
    if problem:
        raise OutboundRefused(problem)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    deadline = time.monotonic() + TOTAL_TIMEOUT
    connection_class = _PinnedHTTPSConnection if scheme == "https" else _PinnedConnection
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    for family, address in _checked_addresses(parts.hostname, port):
        connection = connection_class(parts.hostname, port, address=address, family=family, deadline=deadline)
        try:
            connection.request("POST", path, body=body, headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read(1024)  # read a little, keep nothing: the answer's text is not ours to store
        except (OSError, http.client.HTTPException, ssl.SSLError):
            if time.monotonic() >= deadline:
                return DeliveryResult(None, "could not connect (no answer in time)")
            continue
        finally:
            connection.close()
        if 200 <= response.status < 300:
            return DeliveryResult(response.status)
        return DeliveryResult(
            response.status, f"the webhook receiver did not accept the alert (HTTP {response.status})"
        )
    return DeliveryResult(None, "could not connect")
