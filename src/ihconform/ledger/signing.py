"""Signatures over ledger records: Ed25519 (default) and SM2 with SM3 (GB/T 32918, GB/T 35276).

Why sign at all: an attestation stands in for a check the harness cannot make, so the report
must show who vouched for it and that the record was not edited afterwards. The signature
covers a canonical serialisation of every field of the record except the signature itself,
so changing a date, a claimed result, a file digest or the scope breaks it.

Canonical form (``canonical_bytes``): a domain prefix (``ihconform-<kind>-v1`` and a newline)
followed by JSON of the record with keys sorted, no insignificant whitespace, UTF-8, dates as
ISO 8601, and fields left at their default omitted, so a later version that adds an optional
field does not invalidate signatures made before it.

Keys: Ed25519 keys are PKCS#8 PEM files (private) and base64 of the 32 raw bytes (public).
SM2 needs the optional pure-Python ``gmssl`` package (``pip install ihconform[sm2]``); its
private key is a file holding 64 hex digits, its public key the 128 hex digits x||y. The SM2
user id is the GB/T 35276 default ``1234567812345678``; the nonce comes from :mod:`secrets`
(gmssl's own helper uses :mod:`random`, which is not fit for signing).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ihconform.errors import IhconformError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

Algorithm = Literal["ed25519", "sm2-sm3"]
ALGORITHMS: tuple[Algorithm, ...] = ("ed25519", "sm2-sm3")

# SM2 recommended curve parameters (GB/T 32918.5-2017).
_SM2_P = int("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF", 16)
_SM2_A = int("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC", 16)
_SM2_B = int("28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93", 16)
_SM2_N = int("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123", 16)


class SignatureError(IhconformError):
    """A key or signature that cannot be used (wrong format, missing optional package)."""


def canonical_bytes(kind: str, payload: dict[str, Any]) -> bytes:
    """The exact bytes a signature covers. ``payload`` is the record without its signature."""
    body = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return f"ihconform-{kind}-v1\n".encode() + body.encode("utf-8")


def fingerprint(algorithm: str, public_key: str) -> str:
    """A short, stable name of a public key: ``<algorithm>:<first 16 hex of SHA-256>``."""
    try:
        raw = _public_bytes(algorithm, public_key)
    except SignatureError:
        raw = public_key.encode()
    return f"{algorithm}:{hashlib.sha256(raw).hexdigest()[:16]}"


def _public_bytes(algorithm: str, public_key: str) -> bytes:
    try:
        if algorithm == "ed25519":
            raw = base64.b64decode(public_key, validate=True)
            if len(raw) != 32:
                raise SignatureError(f"an Ed25519 public key is 32 bytes, got {len(raw)}")
            return raw
        if algorithm == "sm2-sm3":
            key = public_key.lower().removeprefix("04") if len(public_key) == 130 else public_key.lower()
            raw = bytes.fromhex(key)
            if len(raw) != 64:
                raise SignatureError(f"an SM2 public key is 64 bytes (x||y as 128 hex digits), got {len(raw)}")
            return raw
    except (binascii.Error, ValueError) as exc:
        raise SignatureError(f"public key is not valid {'base64' if algorithm == 'ed25519' else 'hex'}: "
                             f"{exc}") from None
    raise SignatureError(f"unknown signature algorithm {algorithm!r}; known: {', '.join(ALGORITHMS)}")


# ---- Ed25519 ------------------------------------------------------------------------------


def _ed25519_key(private_pem: bytes) -> tuple[Ed25519PrivateKey, str]:
    """The Ed25519 private key of a PEM file and its public key (base64 raw), or SignatureError."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(private_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise SignatureError(f"not an unencrypted PEM private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SignatureError("the key file does not hold an Ed25519 private key")
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return key, base64.b64encode(raw).decode()


def _ed25519_sign(private_pem: bytes, message: bytes) -> tuple[str, str]:
    key, pub = _ed25519_key(private_pem)
    return pub, base64.b64encode(key.sign(message)).decode()


def _ed25519_verify(public_key: str, value: str, message: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    raw = _public_bytes("ed25519", public_key)
    try:
        sig = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    try:
        Ed25519PublicKey.from_public_bytes(raw).verify(sig, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def _ed25519_keygen() -> tuple[bytes, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    pub = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return pem, base64.b64encode(pub).decode()


# ---- SM2 / SM3 ----------------------------------------------------------------------------


def _gmssl() -> Any:
    import importlib

    try:  # imported by name: gmssl ships no type information
        sm2 = importlib.import_module("gmssl.sm2")
    except ImportError:
        raise SignatureError("SM2 needs the optional package gmssl: pip install 'ihconform[sm2]'") from None
    return sm2


def _on_curve(pub: bytes) -> bool:
    x, y = int.from_bytes(pub[:32], "big"), int.from_bytes(pub[32:], "big")
    if not (0 <= x < _SM2_P and 0 <= y < _SM2_P):
        return False
    return (y * y - (x * x * x + _SM2_A * x + _SM2_B)) % _SM2_P == 0


def _sm2_public(sm2: Any, private_hex: str) -> str:
    crypt = sm2.CryptSM2(private_key=private_hex, public_key="")
    return str(crypt._kg(int(private_hex, 16), crypt.ecc_table["g"]))


def _crypt(sm2: Any, private_hex: str, public_hex: str) -> Any:
    """gmssl's signer/verifier for the 128-hex-digit key ``public_hex``, given to it whole.

    Why not through its constructor: gmssl strips a "04" prefix with ``str.lstrip("04")``, which
    removes every leading 0 and 4, so a key whose x coordinate starts with byte 0x04 (one key in
    256) lost digits: its signatures were computed over the wrong Z and verifying one raised
    TypeError inside gmssl (tests/unit/test_ledger.py, private key 11)."""
    crypt = sm2.CryptSM2(private_key=private_hex, public_key="")
    crypt.public_key = public_hex
    return crypt


def _read_sm2_private(text: bytes) -> str:
    key = text.decode("ascii", "replace").strip().lower()
    try:
        d = int(key, 16)
    except ValueError:
        raise SignatureError("an SM2 private key file holds 64 hex digits") from None
    if len(key) != 64 or not 1 <= d < _SM2_N - 1:
        raise SignatureError("an SM2 private key file holds 64 hex digits (a scalar in [1, n-2])")
    return key


def _sm2_sign(private: bytes, message: bytes) -> tuple[str, str]:
    sm2 = _gmssl()
    d = _read_sm2_private(private)
    pub = _sm2_public(sm2, d)
    crypt = _crypt(sm2, d, pub)
    for _ in range(8):  # sign() returns None for the rare nonce that gives r or s of 0
        k = f"{secrets.randbelow(_SM2_N - 1) + 1:064x}"
        sig = crypt.sign_with_sm3(message, k)
        if sig:
            return pub, base64.b64encode(bytes.fromhex(sig)).decode()
    raise SignatureError("SM2 signing failed repeatedly")  # pragma: no cover


def _sm2_verify(public_key: str, value: str, message: bytes) -> bool:
    raw = _public_bytes("sm2-sm3", public_key)
    if not _on_curve(raw):
        return False
    try:
        sig = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    if len(sig) != 64:
        return False
    r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    if not (1 <= r < _SM2_N and 1 <= s < _SM2_N):  # gmssl does not check the range itself
        return False
    crypt = _crypt(_gmssl(), "", raw.hex())
    try:
        return bool(crypt.verify_with_sm3(sig.hex(), message))
    except (ValueError, ArithmeticError, IndexError):
        return False


def _sm2_keygen() -> tuple[bytes, str]:
    sm2 = _gmssl()
    d = f"{secrets.randbelow(_SM2_N - 2) + 1:064x}"
    return (d + "\n").encode(), _sm2_public(sm2, d)


# ---- public API ---------------------------------------------------------------------------


def sign(algorithm: str, private_key: bytes, message: bytes) -> tuple[str, str]:
    """Sign ``message``; returns (public key, signature value) in the ledger's text encodings."""
    if algorithm == "ed25519":
        return _ed25519_sign(private_key, message)
    if algorithm == "sm2-sm3":
        return _sm2_sign(private_key, message)
    raise SignatureError(f"unknown signature algorithm {algorithm!r}; known: {', '.join(ALGORITHMS)}")


def verify(algorithm: str, public_key: str, value: str, message: bytes) -> bool:
    """True only for a signature that verifies. A malformed key raises SignatureError (the
    caller reports it as a bad signature too, with this message)."""
    if algorithm == "ed25519":
        return _ed25519_verify(public_key, value, message)
    if algorithm == "sm2-sm3":
        return _sm2_verify(public_key, value, message)
    raise SignatureError(f"unknown signature algorithm {algorithm!r}; known: {', '.join(ALGORITHMS)}")


def keygen(algorithm: str, private_path: Path) -> str:
    """Write a new private key (mode 0600, never overwriting) and return its public key."""
    if algorithm == "ed25519":
        private, public = _ed25519_keygen()
    elif algorithm == "sm2-sm3":
        private, public = _sm2_keygen()
    else:
        raise SignatureError(f"unknown signature algorithm {algorithm!r}; known: {', '.join(ALGORITHMS)}")
    private_path.parent.mkdir(parents=True, exist_ok=True)
    with private_path.open("xb") as f:  # "x": an existing key is never overwritten
        private_path.chmod(0o600)
        f.write(private)
    return public


def detect_algorithm(private_key: bytes) -> Algorithm:
    """Which algorithm a private key file is for (PEM -> Ed25519, 64 hex digits -> SM2)."""
    return "ed25519" if private_key.lstrip().startswith(b"-----BEGIN") else "sm2-sm3"


def public_key(private_key: bytes) -> tuple[Algorithm, str]:
    """The algorithm and public key (ledger text encoding) of a private key file's bytes: what
    ``attest keygen`` printed once, recovered for a keyring entry or a platform registration."""
    algorithm = detect_algorithm(private_key)
    if algorithm == "ed25519":
        return algorithm, _ed25519_key(private_key)[1]
    return algorithm, _sm2_public(_gmssl(), _read_sm2_private(private_key))
