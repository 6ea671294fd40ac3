"""Ed25519 signing of the chain head: the key in the keystore, signed checkpoints, checks.

A checkpoint says "at ``time`` the events chain reached ``seq`` with head ``hash``". The
signed message is the canonical JSON ``{"hash":...,"seq":...,"time":...}`` (sorted keys, no
spaces, UTF-8); a checkpoint line is that object plus ``key`` (the raw 32-byte public key,
base64) and ``sig`` (the 64-byte signature, base64), one JSON object per line. Anyone with
the public key (``agency audit pubkey``) can check a line with ``cryptography`` alone.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from agency.errors import ConfigError, NotFound, ValidationFailed
from agency.security.base import Keystore

SIGNING_KEY_SECRET = "agency_checkpoint_key"
#: where the key is kept when the keystore is the environment (which a restart forgets)
KEY_FILE_NAME = "checkpoint.key"


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


def _read_key_file(path: Path) -> str:
    """The base64 key in ``path``, refused unless only its owner can read it (like ssh)."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(
            f"{path} is readable by others (mode {mode:o}): chmod 600 it; the checkpoint "
            "signing key must be private",
            details={"path": str(path)},
        )
    return path.read_text().strip()


def _write_key_file(path: Path, value: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_EXCL: two control planes starting at once never overwrite each other's key
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(value + "\n")
        out.flush()
        os.fsync(out.fileno())


def open_signer(keystore: Keystore, data_dir: Path, *, create: bool = True) -> CheckpointSigner:
    """The checkpoint signer of this deployment, one key across restarts.

    Every keystore but the environment keeps the key it is given. The environment forgets a
    generated key when the process ends, so with ``AGENCY_KEYSTORE=env`` an exported
    ``AGENCY_SECRET_agency_checkpoint_key`` wins, else the key lives in
    ``<data_dir>/checkpoint.key`` (mode 0600, created exclusively; refused when others can
    read it), so checkpoints signed before a restart still verify after it.
    """
    if keystore.kind != "env":
        return CheckpointSigner.from_keystore(keystore, create=create)
    try:
        return CheckpointSigner.from_keystore(keystore, create=False)
    except NotFound:
        pass
    path = data_dir / KEY_FILE_NAME
    if not path.exists():
        if not create:
            raise NotFound(
                f"no checkpoint signing key: neither AGENCY_SECRET_{SIGNING_KEY_SECRET} nor {path}",
                details={"path": str(path)},
            )
        key = Ed25519PrivateKey.generate()
        raw = key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        # FileExistsError: another process made it a moment ago; use that one
        with contextlib.suppress(FileExistsError):
            _write_key_file(path, _b64(raw))
    value = _read_key_file(path)
    try:
        signer = CheckpointSigner(
            Ed25519PrivateKey.from_private_bytes(base64.b64decode(value, validate=True))
        )
    except ValueError as exc:
        raise ConfigError(
            f"{path} holds no Ed25519 key: {exc}", details={"path": str(path)}
        ) from exc
    keystore.set_secret(SIGNING_KEY_SECRET, value)  # this process and its children see it
    return signer
