"""The bundle's detached signature, made with the same keys as the evidence ledger.

One key format across ihconform (``ihconform attest keygen``; :mod:`ihconform.ledger.signing`):
Ed25519 by default, SM2 with SM3 as an option. The tester signs attestations and the annual
bundle with the same key, and a verifier pins it with the same keyring file.

What is signed: ``ihconform-bundle-v1`` and a newline, then the exact bytes of manifest.json.
The prefix separates domains, so a bundle signature can never be passed off as a signature over
a ledger record (those start ``ihconform-attestation-v1``/``ihconform-waiver-v1``) or vice versa.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ihconform.errors import ConfigError, Location
from ihconform.ledger import signing as ls

DOMAIN = b"ihconform-bundle-v1\n"


def signed_message(manifest_bytes: bytes) -> bytes:
    return DOMAIN + manifest_bytes


@dataclass(frozen=True)
class SigningKey:
    """A private key file and what algorithm it is for. The key bytes are read when signing
    and never kept in any output."""

    path: Path
    algorithm: ls.Algorithm

    def signature_record(self, manifest_bytes: bytes, signed_file: str) -> dict[str, str]:
        try:
            private = self.path.read_bytes()
            public, value = ls.sign(self.algorithm, private, signed_message(manifest_bytes))
        except OSError as exc:
            raise ConfigError(f"cannot read key: {exc.strerror}", Location(self.path)) from exc
        except ls.SignatureError as exc:
            raise ConfigError(str(exc), Location(self.path)) from exc
        return {"algorithm": self.algorithm, "signed_file": signed_file, "domain": DOMAIN.decode().strip(),
                "public_key": public, "key_fingerprint": ls.fingerprint(self.algorithm, public), "signature": value}


def load_key(path: Path) -> SigningKey:
    try:
        head = path.read_bytes()[:64]
    except OSError as exc:
        raise ConfigError(f"cannot read key: {exc.strerror}", Location(path)) from exc
    return SigningKey(path, ls.detect_algorithm(head))


def generate_key(path: Path, algorithm: ls.Algorithm = "ed25519") -> str:
    """New private key at ``path`` (0600, never overwriting); returns the public key text."""
    try:
        return ls.keygen(algorithm, path)
    except FileExistsError:
        raise ConfigError("key file exists; it is never overwritten", Location(path)) from None
    except ls.SignatureError as exc:
        raise ConfigError(str(exc)) from None


@dataclass(frozen=True)
class TrustedKey:
    algorithm: str
    public_key: str
    owner: str = ""


def load_trusted(path: Path) -> list[TrustedKey]:
    """Keys a verifier trusts: a ledger keyring (YAML ``keys:``) or one public key — base64 of an
    Ed25519 key, or 128 hex digits of an SM2 key — optionally prefixed ``ed25519:``/``sm2-sm3:``."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read trusted key: {exc}", Location(path)) from exc
    if text.startswith("keys:") or "\nkeys:" in text:
        from ihconform.ledger.core import load_keyring

        return [TrustedKey(k.algorithm, k.public_key, k.owner.name) for k in load_keyring(path)]
    alg, _, key = text.rpartition(":")
    key = key.strip()
    if not alg:
        alg = "sm2-sm3" if len(key) in (128, 130) and all(c in "0123456789abcdefABCDEF" for c in key) else "ed25519"
    try:
        ls.fingerprint(alg, key)
        ls._public_bytes(alg, key)
    except ls.SignatureError as exc:
        raise ConfigError(f"not a public key: {exc}", Location(path)) from exc
    return [TrustedKey(alg, key)]


def verify_record(record: dict[str, Any], manifest_bytes: bytes) -> tuple[bool, str]:
    """Check the signature record over manifest.json; (ok, why)."""
    try:
        alg, pub, value = str(record["algorithm"]), str(record["public_key"]), str(record["signature"])
    except (KeyError, TypeError) as exc:
        return False, f"signature record malformed: missing {exc}"
    try:
        ok = ls.verify(alg, pub, value, signed_message(manifest_bytes))
    except (ls.SignatureError, binascii.Error, ValueError) as exc:
        return False, f"signature unusable: {exc}"
    if not ok:
        return False, f"{alg} signature does not match manifest.json"
    return True, alg


def fingerprint(algorithm: str, public_key: str) -> str:
    return ls.fingerprint(algorithm, public_key)


def same_key(a: TrustedKey, algorithm: str, public_key: str) -> bool:
    if a.algorithm != algorithm:
        return False
    try:
        return ls._public_bytes(algorithm, a.public_key) == ls._public_bytes(algorithm, public_key)
    except ls.SignatureError:
        return False


__all__ = ["DOMAIN", "SigningKey", "TrustedKey", "generate_key", "load_key", "load_trusted", "verify_record"]
