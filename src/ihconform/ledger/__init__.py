"""The evidence ledger: signed attestations, waivers with an approver, and a keyring.

What a network probe cannot see (dual power feeds, the 等保 certificate, emergency plans) is
recorded here as evidence a tester can defend: who vouched, with which files (pinned by
SHA-256), until when, signed. Waivers record accepted risk without ever changing a result's
state. See ``docs/evidence.md``.
"""

from __future__ import annotations

from ihconform.ledger.core import Checked, Ledger, apply_ledger, load_ledger, write_evidence
from ihconform.ledger.model import Attestation, Waiver

__all__ = ["Attestation", "Checked", "Ledger", "Waiver", "apply_ledger", "load_ledger", "write_evidence"]
