"""The reference lab: a multi-host internet-hospital deployment in Linux network namespaces.

``ihconform lab up`` builds it on this machine (root needed), writes the inventory of what it
built, and ``ihconform run --inventory <it>`` audits it. See docs/lab.md for the topology,
addresses, services, variants and the limits of a namespace lab.

Public API: :func:`register` (the CLI), :func:`up`, :func:`down`, :func:`status`,
:func:`shape`, :class:`LabInfo`, :data:`DEFAULT_RUNTIME`, :data:`VARIANTS`.
"""

from __future__ import annotations

from ihconform.lab.cli import register
from ihconform.lab.lifecycle import (
    DEFAULT_RUNTIME,
    AlreadyUp,
    LabInfo,
    NotRoot,
    down,
    shape,
    status,
    up,
)
from ihconform.lab.network import RangeInUse
from ihconform.lab.plan import VARIANTS
from ihconform.lab.proc import LabError

__all__ = [
    "DEFAULT_RUNTIME", "VARIANTS", "AlreadyUp", "LabError", "LabInfo", "NotRoot", "RangeInUse",
    "down", "register", "shape", "status", "up",
]
