"""SHA-256 and SM3 digests of files, computed in one pass.

SM3 (GB/T 32905-2016) is what a Chinese assessor's tools check; SHA-256 is what everyone else's
check. OpenSSL (through ``cryptography``) provides SM3 on this platform; where an OpenSSL build
lacks it, the pure-Python implementation below takes over, tested against the standard's vectors.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from hashlib import sha256
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes


class _Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...


def _openssl_sm3_available() -> bool:
    try:
        h = hashes.Hash(hashes.SM3())
    except UnsupportedAlgorithm:
        return False
    h.update(b"abc")
    return h.finalize().hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"


_IV = (0x7380166F, 0x4914B2B9, 0x172442D7, 0xDA8A0600, 0xA96F30BC, 0x163138AA, 0xE38DEE4D, 0xB0FB0E4E)
_M = 0xFFFFFFFF


def _rotl(x: int, n: int) -> int:
    n %= 32
    return ((x << n) | (x >> (32 - n))) & _M


def _p0(x: int) -> int:
    return x ^ _rotl(x, 9) ^ _rotl(x, 17)


def _p1(x: int) -> int:
    return x ^ _rotl(x, 15) ^ _rotl(x, 23)


class PureSM3:
    """SM3 in plain Python (GB/T 32905-2016 §5). Slow (about 1 MB/s); only a fallback."""

    def __init__(self) -> None:
        self._v = list(_IV)
        self._buf = b""
        self._len = 0

    def _compress(self, block: bytes) -> None:
        w = list(struct.unpack(">16I", block))
        for j in range(16, 68):
            w.append(_p1(w[j - 16] ^ w[j - 9] ^ _rotl(w[j - 3], 15)) ^ _rotl(w[j - 13], 7) ^ w[j - 6])
        w1 = [w[j] ^ w[j + 4] for j in range(64)]
        a, b, c, d, e, f, g, h = self._v
        for j in range(64):
            t = 0x79CC4519 if j < 16 else 0x7A879D8A
            ss1 = _rotl((_rotl(a, 12) + e + _rotl(t, j)) & _M, 7)
            ss2 = ss1 ^ _rotl(a, 12)
            if j < 16:
                ff, gg = a ^ b ^ c, e ^ f ^ g
            else:
                ff, gg = (a & b) | (a & c) | (b & c), (e & f) | (~e & g)
            tt1 = (ff + d + ss2 + w1[j]) & _M
            tt2 = (gg + h + ss1 + w[j]) & _M
            d, c, b, a = c, _rotl(b, 9), a, tt1
            h, g, f, e = g, _rotl(f, 19), e, _p0(tt2)
        self._v = [x ^ y for x, y in zip(self._v, (a, b, c, d, e, f, g, h), strict=True)]

    def update(self, data: bytes) -> None:
        self._len += len(data)
        buf = self._buf + data
        full = len(buf) - len(buf) % 64
        for i in range(0, full, 64):
            self._compress(buf[i:i + 64])
        self._buf = buf[full:]

    def hexdigest(self) -> str:
        saved = (list(self._v), self._buf, self._len)
        bits = self._len * 8
        pad = b"\x80" + b"\x00" * ((55 - self._len) % 64) + struct.pack(">Q", bits)
        buf, self._buf = self._buf + pad, b""
        for i in range(0, len(buf), 64):
            self._compress(buf[i:i + 64])
        out = "".join(f"{x:08x}" for x in self._v)
        self._v, self._buf, self._len = saved
        return out


class _OpenSSLSM3:
    def __init__(self) -> None:
        self._h = hashes.Hash(hashes.SM3())

    def update(self, data: bytes) -> None:
        self._h.update(data)

    def hexdigest(self) -> str:
        return self._h.copy().finalize().hex()


USE_OPENSSL_SM3 = _openssl_sm3_available()


def new_sm3() -> PureSM3 | _OpenSSLSM3:
    return _OpenSSLSM3() if USE_OPENSSL_SM3 else PureSM3()


def sm3_hex(data: bytes) -> str:
    h = new_sm3()
    h.update(data)
    return h.hexdigest()


def digests_of(chunks: Iterable[bytes]) -> tuple[str, str, int]:
    """(sha256 hex, sm3 hex, size) of a byte stream."""
    a, b = sha256(), new_sm3()
    size = 0
    for chunk in chunks:
        a.update(chunk)
        b.update(chunk)
        size += len(chunk)
    return a.hexdigest(), b.hexdigest(), size


def file_digests(path: Path) -> tuple[str, str, int]:
    with path.open("rb") as f:
        return digests_of(iter(lambda: f.read(1 << 20), b""))
