"""How a bundle reaches a platform: one adapter per platform interface, chosen by name.

Why an interface: the upload format in docs/upload-api.md is ihconform's *reference* exchange
format, not a platform's. The 互联网医院监管平台 of each municipality publishes its own 对接规范
(in Chongqing issued by 市卫健委); when it does, an adapter that speaks it is added here beside
the reference one, and ``ihconform upload --adapter NAME`` selects it. The bundle itself (signed
manifest, digests, reports) does not change with the platform.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from ihconform.errors import ConfigError
from ihconform.upload.client import UploadOptions, UploadOutcome, upload


class PlatformAdapter(Protocol):
    """Sends one signed bundle to one platform interface.

    ``send`` returns the platform's receipt, raises
    :class:`~ihconform.upload.client.UploadRejected` when the platform refuses the bundle (final)
    and :class:`~ihconform.upload.client.UploadFailed` when it could not be reached after the
    retries (try again later). It must be idempotent: sending an accepted bundle again sends nothing.
    """

    name: str
    description: str

    def send(self, bundle: Path, opts: UploadOptions) -> UploadOutcome: ...


class ReferenceAdapter:
    """The reference exchange format of docs/upload-api.md (``/api/v1/reports``), spoken by
    ``ihconform receiver``: resumable chunks, idempotent by the bundle's SHA-256."""

    name = "reference"
    description = "ihconform 参考交换格式 / reference exchange format v1 (docs/upload-api.md)"

    def send(self, bundle: Path, opts: UploadOptions) -> UploadOutcome:
        return upload(bundle, opts)


#: Adapters by name. A platform's own interface is added here once its 对接规范 is published.
ADAPTERS: dict[str, Callable[[], PlatformAdapter]] = {ReferenceAdapter.name: ReferenceAdapter}
DEFAULT_ADAPTER = ReferenceAdapter.name


def get_adapter(name: str) -> PlatformAdapter:
    """The adapter called ``name``; an unknown name is a usage error listing the known ones."""
    try:
        return ADAPTERS[name]()
    except KeyError:
        raise ConfigError(f"unknown upload adapter {name!r}; known: {', '.join(sorted(ADAPTERS))}",
                          field="--adapter") from None
