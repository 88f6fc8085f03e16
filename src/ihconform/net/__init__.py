"""Network measurements: TLS and 国密 handshakes, exposure scans, uplink bandwidth, AV and
clinical protocol probes, route proofs.

Why a package of its own: these are the pieces that talk to the network (or run a command on a
host over its transport) and turn the answers into plain data. They judge nothing; the probes
in :mod:`ihconform.probes` read thresholds from the profile and record verdicts. Keeping the
two apart lets the unit tests drive every parser and rule with recorded answers, and lets a
tester reuse a measurement (``python -m ihconform.net.tlcp host port``) without a run.

Every helper here raises :class:`~ihconform.errors.FactUnavailable` when it could not measure,
so a probe that does nothing special turns "could not measure" into 检查错误, never into a pass.
"""
