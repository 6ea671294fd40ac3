"""SSRF guard: only http(s) URLs whose host is on the allowlist get through.

Rules (``check_url``), each refusal a ``HostNotAllowed`` (403) naming the reason, and a
warning log line:

* scheme ``http`` or ``https`` only; no userinfo (``http://127.0.0.1@evil.com`` is a URL
  for ``evil.com``, and both are refused); no whitespace or control characters; a valid port.
* Host names are compared case-insensitively, without a trailing dot, after IDNA encoding
  (so a look-alike Unicode name never equals an ASCII one). Names are compared, not
  resolved: allow only names whose DNS you trust.
* IPv4 must be the canonical dotted quad. Decimal (``2130706433``), octal (``0177.0.0.1``),
  hex (``0x7f.1``) and short (``127.1``) forms are refused even when they mean an allowed
  address: resolvers disagree on them, which is what SSRF tricks exploit.
* IPv6 must be bracketed and is compared in its compressed form (``[0:0::1]`` is ``::1``).
  IPv4-mapped or -compatible forms (``[::ffff:127.0.0.1]``) and zone ids are refused.
* An allowlist entry is a host name, an IP, or a CIDR network (``10.0.0.0/8``) that IPs
  may fall in.

``check_https_url`` adds one rule for URLs agency pushes data to (the checkpoint copy):
``https`` only, except ``http`` to a loopback host (a test receiver on this machine).

The returned URL is normalized: lower-case scheme and host, explicit port kept, fragment
dropped.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from urllib.parse import urlsplit, urlunsplit

from agency.errors import HostNotAllowed

log = logging.getLogger(__name__)

HOST_NAME = re.compile(
    r"(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*"
)
# A host whose last label is a number (decimal, octal or 0x-hex) is an IPv4 address to
# resolvers (inet_aton) and to the WHATWG URL standard, whatever its shape.
NUMERIC_LABEL = re.compile(r"0x[0-9a-f]*|[0-9]+")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _refuse(url: str, reason: str) -> HostNotAllowed:
    shown = url if len(url) <= 200 else url[:200] + "..."
    log.warning("refused URL %r: %s", shown, reason)
    return HostNotAllowed(f"URL refused: {reason}", details={"url": shown, "reason": reason})


def _host(url: str, netloc: str) -> tuple[str, IPAddress | None]:
    """The normalized host of ``netloc`` and its address when it is an IP literal."""
    hostport = netloc
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            raise _refuse(url, "unbalanced IPv6 brackets")
        literal, rest = hostport[1:end], hostport[end + 1 :]
        if rest and not re.fullmatch(r":[0-9]*", rest):
            raise _refuse(url, "text after the IPv6 brackets")
        if "%" in literal:
            raise _refuse(url, "IPv6 zone ids are not allowed")
        try:
            ip6 = ipaddress.IPv6Address(literal)
        except ValueError:
            raise _refuse(url, "not a valid IPv6 address") from None
        if ip6.ipv4_mapped is not None or (int(ip6) >> 32 == 0 and int(ip6) > 1):
            raise _refuse(url, "IPv4-mapped or IPv4-compatible IPv6 addresses are not allowed")
        return ip6.compressed, ip6
    host = hostport.rsplit(":", 1)[0] if ":" in hostport else hostport
    host = host.rstrip(".").lower()
    if not host:
        raise _refuse(url, "no host")
    if NUMERIC_LABEL.fullmatch(host.rsplit(".", 1)[-1]):
        try:
            ip4 = ipaddress.IPv4Address(host)
        except ValueError:
            raise _refuse(url, f"{host!r} is not a canonical dotted-quad IPv4 address") from None
        return str(ip4), ip4
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise _refuse(url, "host name is not valid IDNA") from None
    if not HOST_NAME.fullmatch(ascii_host):
        raise _refuse(url, f"{host!r} is not a valid host name")
    return ascii_host, None


def _allowed(host: str, ip: IPAddress | None, allowed_hosts: frozenset[str]) -> bool:
    for entry in allowed_hosts:
        entry = entry.strip().lower().strip("[]").rstrip(".")
        if not entry:
            continue
        if ip is None:
            if entry == host:
                return True
            continue
        try:
            if ip in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue  # a name: never matches an IP literal
    return False


def check_url(url: str, allowed_hosts: frozenset[str]) -> str:
    """The normalized ``url`` if its host is allowed; ``HostNotAllowed`` otherwise."""
    if not isinstance(url, str) or not url or len(url) > 2048:
        raise _refuse(str(url)[:200], "empty or longer than 2048 characters")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 or c == "\\" for c in url):
        raise _refuse(url, "whitespace, control characters or backslashes in the URL")
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # unbalanced IPv6 brackets, NFKC tricks in the host
        raise _refuse(url, f"unparsable URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise _refuse(url, f"scheme {parts.scheme or '(none)'!r} is not http or https")
    if "@" in parts.netloc:
        raise _refuse(url, "credentials (user@host) in the URL are not allowed")
    try:
        port = parts.port
    except ValueError:
        raise _refuse(url, "invalid port") from None
    if port == 0:
        raise _refuse(url, "invalid port")
    host, ip = _host(url, parts.netloc)
    if not _allowed(host, ip, allowed_hosts):
        raise _refuse(url, f"host {host!r} is not in the allowlist (AGENCY_ALLOWED_HOSTS)")
    shown_host = f"[{host}]" if isinstance(ip, ipaddress.IPv6Address) else host
    netloc = f"{shown_host}:{port}" if port is not None else shown_host
    return urlunsplit((scheme, netloc, parts.path, parts.query, ""))


LOOPBACK_NAMES = frozenset({"localhost"})


def check_https_url(url: str, allowed_hosts: frozenset[str]) -> str:
    """``check_url``, and ``https`` unless the host is loopback (``HostNotAllowed`` otherwise)."""
    normalized = check_url(url, allowed_hosts)
    parts = urlsplit(normalized)
    if parts.scheme == "https":
        return normalized
    host = (parts.hostname or "").lower()
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host in LOOPBACK_NAMES
    if not loopback:
        raise _refuse(url, "plain http leaves this machine: use https")
    return normalized
