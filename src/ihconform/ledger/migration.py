"""Ledger records written under control ids the catalog has since replaced.

The management requirements were once one attestation control per 安全控制点
(``L3-M-8.1.10.13``) and are now one control per 测评项 (``L3-MMS1-45`` …), each naming the old
id in ``legacy_ids``. A hospital's ledger written before the change must keep working: an
attestation (or waiver) on the old id applies to every item of that 控制点 until the item is
attested itself, and the run and ``validate`` say so, naming the old id and its items, so the
site knows what to re-attest. Nothing is rewritten: the record stays as signed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ihconform.profile import Control


def legacy_map(controls: Iterable[Control]) -> dict[str, tuple[str, ...]]:
    """Former control id -> the controls that replaced it, in catalog order."""
    out: dict[str, list[str]] = {}
    for c in controls:
        for old in c.legacy_ids:
            out.setdefault(old, []).append(c.id)
    return {old: tuple(new) for old, new in out.items()}


def replaced_by(legacy: Mapping[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """Control id -> the former ids whose records still apply to it (the inverse of legacy_map)."""
    out: dict[str, list[str]] = {}
    for old, new_ids in legacy.items():
        for new in new_ids:
            out.setdefault(new, []).append(old)
    return {new: tuple(olds) for new, olds in out.items()}


def migration_note(kind_zh: str, kind_en: str, record_id: str, where: str, old: str,
                   items: tuple[str, ...]) -> str:
    """The warning for one record on a former id: which items it now stands for, and why."""
    listed = ", ".join(items)
    return (f"{kind_zh} {record_id}（{where}）记录在已拆分的控制点 {old} 上，在逐项证明前适用于其测评项 "
            f"{listed} / {kind_en} {record_id} ({where}) is on the former control point {old}; it applies to "
            f"its items {listed} until each is attested itself")
