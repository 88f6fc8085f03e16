"""Transports: how commands reach a host. Fact collectors never know which one is used.

Explicit registry (name -> "module:Class"), imported lazily so that paramiko is loaded only
when an SSH host is audited; ``tests/unit/test_registry.py`` imports every entry.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ihconform.inventory import Defaults, Host, Inventory
    from ihconform.transport.base import Transport

TRANSPORTS: dict[str, str] = {
    "local": "ihconform.transport.local:LocalTransport",
    "ssh": "ihconform.transport.ssh:SshTransport",
    "recorded": "ihconform.transport.recorded:RecordedTransport",
}


def transport_class(name: str) -> type[Transport]:
    module, _, cls = TRANSPORTS[name].partition(":")
    return getattr(importlib.import_module(module), cls)  # type: ignore[no-any-return]


def open_transport(host: Host, inventory: Inventory) -> Transport:
    """A connected transport for ``host`` (raises TransportError / HostKeyError)."""
    cls = transport_class(host.connection)
    return cls.connect(host, inventory)


__all__ = ["TRANSPORTS", "Defaults", "open_transport", "transport_class"]
