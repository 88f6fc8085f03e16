"""What ``ihconform validate`` warns about: inputs that load but would make a poor run.

A bad inventory is an error (exit 2, ConfigError). These are different: the files are valid,
yet the run would print （未填写） on the cover, refuse every SSH host for want of a pinned key,
or carry ledger records that judge nothing because their control id is misspelt. ``validate``
says so before a run is spent on it; it does not fail on them (exit 0), since each can be
intended (a trial run without the licence number at hand).
"""

from __future__ import annotations

from pathlib import Path

from ihconform.inventory import Inventory, objects
from ihconform.profile import Profile


def _known_hosts_warnings(inv: Inventory) -> list[str]:
    """SSH hosts with no pinned ``host_key`` are checked against known_hosts; an empty or
    missing file, or one without their entry, means every such host is refused at connect."""
    from ihconform.transport.ssh import known_hosts_names  # noqa: I001 -- first: paramiko without invoke
    import paramiko

    unpinned = [h for h in inv.hosts if h.connection == "ssh" and not h.host_key and h.offline is None]
    if not unpinned:
        return []
    path = inv.defaults.known_hosts or Path("~/.ssh/known_hosts").expanduser()
    hint = "pin each with `ihconform trust HOST -i INVENTORY` or hosts[].host_key"
    try:
        entries = paramiko.HostKeys(str(path)) if path.is_file() else paramiko.HostKeys()
    except (OSError, paramiko.SSHException) as exc:
        return [f"known_hosts {path} 无法读取 / cannot be read ({exc}); {hint}"]
    if not entries.keys():
        ids = ", ".join(h.id for h in unpinned)
        return [f"known_hosts {path} 为空或不存在 / is empty or missing: SSH hosts {ids} have no pinned key and "
                f"will be refused (检查错误); {hint}"]
    missing = [h.id for h in unpinned if not any(entries.lookup(n) for n in known_hosts_names(h))]
    if missing:
        return [f"known_hosts {path} 中没有主机 / has no key for hosts {', '.join(missing)}: they will be "
                f"refused (检查错误); {hint}"]
    return []


def inventory_warnings(profile: Profile, inv: Inventory) -> list[str]:
    """Bilingual one-line warnings, Chinese first, in the order a tester would fix them."""
    out: list[str] = []
    for value, zh, en, key, why in (
            (inv.institution.credit_code, "统一社会信用代码", "credit code", "credit_code",
             "；平台按它归档上传 / the platform files uploads by it"),
            (inv.institution.licence_number, "执业许可证登记号", "licence number", "licence_number", "")):
        if not value.strip():
            out.append(f"institution.{key}: {zh}为空，报告封面将显示（未填写）/ the {en} is empty: the report "
                       f"cover shows it as not given{why}")
    out += _known_hosts_warnings(inv)
    ev = inv.evidence
    if ev.attestations or ev.waivers:
        from ihconform.ledger.core import load_ledger
        from ihconform.ledger.migration import legacy_map

        ledger = load_ledger(ev.attestations, ev.waivers, ev.keyring)
        ledger.check_refs({c.id for c in profile.controls}, {o.id for o in objects(inv)},
                          legacy_map(profile.controls))  # records on a former 控制点 id apply to its items
        out += ledger.warnings()
    return out
