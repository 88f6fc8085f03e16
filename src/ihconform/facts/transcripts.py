"""Write what was gathered from each host into the run folder, as evidence.

One writer for the single-process run (the engine, when the run is finished) and for
pytest-xdist workers (each writes the hosts it gathered before it stops), so the evidence
folder looks the same however the run was spread.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from ihconform.facts.collect import HostFacts
from ihconform.facts.db_driver import INSTANCES
from ihconform.ledger.core import sha256_file
from ihconform.results import EvidenceRef


def write_collected_evidence(root: Path, hosts: Mapping[str, HostFacts]) -> dict[str, EvidenceRef]:
    """Every object collected in this process: the hosts' batches (``hosts``, from the fact
    store) and the database instances read through their drivers (facts/db_driver.py), under
    ``evidence/databases/<id>/``, keyed ``transcript:db:<id>``."""
    refs = write_host_evidence(root, hosts)
    drivers = {k.removeprefix("db:"): v for k, v in INSTANCES.all().items()}
    refs.update(write_host_evidence(root, drivers, folder="databases", key_prefix="db:"))
    return refs


def write_host_evidence(root: Path, facts: Mapping[str, HostFacts], *, folder: str = "hosts",
                        key_prefix: str = "") -> dict[str, EvidenceRef]:
    """``evidence/<folder>/<id>/transcript.json`` (how each fact was gathered, with exit codes,
    statuses and digests) and ``facts.txt`` (the raw outputs), keyed ``transcript:<id>`` and
    ``facts:<id>``."""
    refs: dict[str, EvidenceRef] = {}
    for host_id, hf in sorted(facts.items()):
        (root / "evidence" / folder / host_id).mkdir(parents=True, exist_ok=True)
        rel = Path("evidence") / folder / host_id / "transcript.json"
        (root / rel).write_text(json.dumps(hf.transcript(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        refs[f"transcript:{key_prefix}{host_id}"] = EvidenceRef(path=str(rel), sha256=sha256_file(root / rel),
                                                                 kind="transcript")
        raw = Path("evidence") / folder / host_id / "facts.txt"
        with (root / raw).open("wb") as f:
            for sec in hf.sections.values():
                f.write(f"### {sec.name} (exit {sec.exit_code}) $ {sec.command}\n".encode())
                f.write(sec.output + b"\n")
        refs[f"facts:{key_prefix}{host_id}"] = EvidenceRef(path=str(raw), sha256=sha256_file(root / raw), kind="facts")
    return refs
