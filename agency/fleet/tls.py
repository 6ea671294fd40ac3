"""TLS to workers: the SSL settings each transport uses, and the check made at registration.

A worker's ``WorkerTLS`` says how its certificate is verified: against the system's CAs (no
options), a CA bundle (``ca_file``), a pinned SHA-256 of the certificate (``fingerprint``), or
not at all (``verify: false``, explicit and audited). A pin replaces chain and hostname
checks, since the point of a pin is to accept one self-signed certificate and nothing else;
the comparison happens during the handshake, before any request byte is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import ssl
from urllib.parse import urlsplit

from agency.errors import WorkerTLSError, WorkerTLSRefused
from agency.models import WorkerTLS


def fingerprint_of(der: bytes) -> str:
    """``sha256:<hex>`` of a DER certificate, the form ``WorkerTLS.fingerprint`` takes."""
    return "sha256:" + hashlib.sha256(der).hexdigest()


def pin_matches(der: bytes | None, pin: str) -> bool:
    return der is not None and hmac.compare_digest(fingerprint_of(der), pin)


class _PinnedSSLObject(ssl.SSLObject):
    """An ``SSLObject`` that refuses a peer whose certificate is not the pinned one.

    asyncio (aiohttp) and anyio (httpx) both drive TLS through ``SSLContext.wrap_bio``, so the
    context's ``sslobject_class`` sees every handshake whatever the library.
    """

    pin: str = ""

    def do_handshake(self) -> None:
        super().do_handshake()  # raises SSLWantReadError until the handshake is complete
        der = self.getpeercert(binary_form=True)
        if not pin_matches(der, self.pin):
            got = fingerprint_of(der) if der else "no certificate"
            raise ssl.SSLCertVerificationError(
                f"certificate fingerprint mismatch: pinned {self.pin}, got {got}"
            )


def ssl_context(tls: WorkerTLS | None) -> ssl.SSLContext:
    """The client context for a worker: system CAs, a CA file, a pin, or (explicitly) none."""
    if tls is not None and (tls.fingerprint or not tls.verify):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        if tls.fingerprint:
            pinned = type("PinnedSSLObject", (_PinnedSSLObject,), {"pin": tls.fingerprint})
            ctx.sslobject_class = pinned
        return ctx
    cafile = tls.ca_file if tls is not None else None
    try:
        return ssl.create_default_context(cafile=cafile)
    except (OSError, ssl.SSLError) as exc:
        raise WorkerTLSError(
            f"cannot load the CA file {cafile!r}: {exc}", details={"ca_file": cafile}
        ) from exc


def describe(tls: WorkerTLS | None) -> str:
    """How the certificate is checked, in a few words (for logs, events and the CLI)."""
    if tls is None:
        return "system CAs"
    if tls.fingerprint:
        return f"pinned {tls.fingerprint[:19]}…"
    if not tls.verify:
        return "unverified"
    return f"CA file {tls.ca_file}" if tls.ca_file else "system CAs"


async def check_certificate(url: str, tls: WorkerTLS | None, timeout: float) -> None:
    """Handshake with an https worker; ``WorkerTLSRefused`` when its certificate does not verify.

    Plain http URLs pass untouched. A worker that cannot be reached passes too: it may not be
    listening yet, and every later call makes the same check during its own handshake.
    """
    parts = urlsplit(url)
    if parts.scheme != "https":
        return
    host = parts.hostname or ""
    port = parts.port or 443
    try:
        ctx = ssl_context(tls)
    except WorkerTLSError as exc:
        raise WorkerTLSRefused(exc.message, details=exc.details) from exc
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=ctx, server_hostname=host), timeout
        )
    except ssl.SSLCertVerificationError as exc:
        reason = getattr(exc, "verify_message", "") or str(exc)
        raise WorkerTLSRefused(
            f"the certificate of {url} does not verify ({describe(tls)}): {reason}",
            details={"url": url, "tls": describe(tls), "reason": reason},
        ) from exc
    except ssl.SSLError as exc:
        raise WorkerTLSRefused(
            f"TLS handshake with {url} failed: {exc}", details={"url": url, "reason": str(exc)}
        ) from exc
    except (OSError, TimeoutError):
        return
    writer.close()
    with contextlib.suppress(OSError, ssl.SSLError):
        await writer.wait_closed()
