"""Ed25519 signing of the chain head: the key in the keystore, signed checkpoints, checks.

A checkpoint says "at ``time`` the events chain reached ``seq`` with head ``hash``". The
signed message is the canonical JSON ``{"hash":...,"seq":...,"time":...}`` (sorted keys, no
spaces, UTF-8); a checkpoint line is that object plus ``key`` (the raw 32-byte public key,
base64) and ``sig`` (the 64-byte signature, base64), one JSON object per line. Anyone with
the public key (``agency audit pubkey``) can check a line with ``cryptography`` alone.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from agency.errors import NotFound, ValidationFailed
from agency.security.base import Keystore

SIGNING_KEY_SECRET = "agency_checkpoint_key"


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def signed_message(seq: int, head_hash: str, time: str) -> bytes:
    """The exact bytes a checkpoint's signature covers."""
    return json.dumps(
        {"hash": head_hash, "seq": seq, "time": time}, sort_keys=True, separators=(",", ":")
    ).encode()


def public_raw(key: Ed25519PublicKey) -> str:
    """The raw public key, base64: how a checkpoint line names its signer."""
    return _b64(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


def public_pem(key: Ed25519PublicKey) -> str:
    """The public key as PEM (SubjectPublicKeyInfo), what ``agency audit pubkey`` prints."""
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def load_public_key(text: str) -> Ed25519PublicKey:
    """A public key from PEM or from the raw base64 form; ``ValidationFailed`` otherwise."""
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode())
        else:
            key = Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True))
    except ValueError as exc:
        raise ValidationFailed(f"not an Ed25519 public key: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise ValidationFailed("not an Ed25519 public key")
    return key


@dataclass(frozen=True)
class Checkpoint:
    """One signed statement of the chain head (see the module docstring)."""

    seq: int
    hash: str
    time: str
    key: str
    sig: str

    def line(self) -> str:
        """The checkpoint as one JSON line (no trailing newline)."""
        return json.dumps(
            {
                "seq": self.seq,
                "hash": self.hash,
                "time": self.time,
                "key": self.key,
                "sig": self.sig,
            },
            separators=(",", ":"),
        )

    @classmethod
    def parse(cls, line: str) -> Checkpoint:
        """A checkpoint from its JSON line; ``ValidationFailed`` when it is malformed."""
        try:
            raw = json.loads(line)
            cp = cls(
                seq=raw["seq"], hash=raw["hash"], time=raw["time"], key=raw["key"], sig=raw["sig"]
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ValidationFailed(f"not a checkpoint line: {exc}") from exc
        if not isinstance(cp.seq, int) or not all(
            isinstance(v, str) for v in (cp.hash, cp.time, cp.key, cp.sig)
        ):
            raise ValidationFailed("not a checkpoint line: wrong field types")
        return cp

    def verify(self, trusted: list[Ed25519PublicKey]) -> bool:
        """Whether one of the ``trusted`` keys signed this checkpoint (``key`` is only a hint:
        a line cannot vouch for itself)."""
        message = signed_message(self.seq, self.hash, self.time)
        try:
            signature = base64.b64decode(self.sig, validate=True)
        except ValueError:
            return False
        for key in trusted:
            try:
                key.verify(signature, message)
                return True
            except InvalidSignature:
                continue
        return False


class CheckpointSigner:
    """Signs checkpoints with the Ed25519 key kept in the keystore (made on first use)."""

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.public_key = key.public_key()
        self.key_id = public_raw(self.public_key)

    @classmethod
    def from_keystore(cls, keystore: Keystore, *, create: bool = True) -> CheckpointSigner:
        """The keystore's signing key; a new one is generated and stored when there is none
        and ``create`` (else ``NotFound``)."""
        try:
            raw = base64.b64decode(keystore.get_secret(SIGNING_KEY_SECRET), validate=True)
            return cls(Ed25519PrivateKey.from_private_bytes(raw))
        except NotFound:
            if not create:
                raise
        key = Ed25519PrivateKey.generate()
        raw = key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        keystore.set_secret(SIGNING_KEY_SECRET, _b64(raw))
        return cls(key)

    def sign(self, seq: int, head_hash: str, time: str) -> Checkpoint:
        sig = self._key.sign(signed_message(seq, head_hash, time))
        return Checkpoint(seq=seq, hash=head_hash, time=time, key=self.key_id, sig=_b64(sig))
