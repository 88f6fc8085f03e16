"""sshd judged per connection context (issue 20 points 1 and 7, issue 13 §6, OpenSSH part).

The contexts are produced by this machine's real sshd evaluating the lab's configuration and
its defect variants (tests/fixtures/facts/sshd_real.py runs the very section commands the batch
sends, with ``-f`` on a test file); the verdicts come from the shipped profile's controls.
Stock OpenSSH default lists are judged from tests/fixtures/sshd-defaults/.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from ihconform.catalog import load_profile
from ihconform.check import Check
from ihconform.errors import FactUnavailable
from ihconform.facts.collect import HostFacts
from ihconform.facts.host import HostView
from ihconform.facts.sshd import NAMED_SECTION, OUTSIDE_ADDR, config_lines, context_sections, match_blocks
from ihconform.inventory import Host, Inventory
from ihconform.inventory import TestObject as ObjectUnderTest
from ihconform.lab import baseline, plan
from ihconform.probes import host as hp
from ihconform.profile import ObjectType
from ihconform.results import Status
from tests.fixtures.facts.factsfix import HERE, LAB, load_dir, with_text
from tests.fixtures.facts.sshd_real import needs_sshd, real_facts

PASS, FAIL, PARTIAL = Status.PASS, Status.FAIL, Status.PARTIAL
PROFILE = load_profile("mlps-l3")
DEFAULTS = Path(__file__).resolve().parents[1] / "fixtures" / "sshd-defaults"
#: The lab inventory with the probe account, as the lab writes it.
INV = LAB.model_copy(update={"hosts": tuple(h.model_copy(update={"user": plan.PROBE_USER}) for h in LAB.hosts)})


def mlps_check(probe_id: str, host_id: str, inventory: Inventory = INV) -> Check:
    """The shipped mlps-l3 control judged by ``probe_id`` (thresholds and decisive parts as shipped)."""
    control = next(c for c in PROFILE.controls if c.probe == probe_id)
    h = inventory.host(host_id)
    return Check(control, ObjectUnderTest(ObjectType.HOST_OS, h.id, h.id, h), inventory)


def judge(fn, probe_id: str, facts: HostFacts, inventory: Inventory = INV):  # type: ignore[no-untyped-def]
    check = mlps_check(probe_id, facts.host_id, inventory)
    fn(check, HostView(facts))
    assert check.verdict is not None
    return check.verdict


def lab_config(host_id: str, *variants: str) -> str:
    return baseline.sshd_config(plan.HOST_BY_ID[host_id], Path("/run/ihlab/hosts") / host_id, tuple(variants))


@pytest.fixture(scope="module")
def app01_base() -> HostFacts:
    return load_dir(HERE / "lab" / "app01", "app01")


@pytest.fixture(scope="module")
def conforming(app01_base: HostFacts) -> HostFacts:
    return real_facts("app01", lab_config("app01"), INV, app01_base)


# ---- the batch's sections --------------------------------------------------------------------


def test_contexts_planned_from_the_inventory() -> None:
    secs = {s.name: s for s in context_sections(INV, INV.host("app01"))}
    # root and the probe account, from the bastion (a management address) and from outside
    assert set(secs) == {"sshd_ctx.root@198.51.100.1", f"sshd_ctx.root@{OUTSIDE_ADDR}",
                         "sshd_ctx.ihprobe@198.51.100.1", f"sshd_ctx.ihprobe@{OUTSIDE_ADDR}", NAMED_SECTION}
    assert all(s.root for s in secs.values())  # sshd -T reads host keys: the sudo part
    # with the service's crypto-policy options (RHEL 8: facts/sshd.py CRYPTO_POLICY_FILES)
    assert secs["sshd_ctx.root@198.51.100.1"].command.endswith(
        "; sshd -T $p -C user=root,host=198.51.100.1,addr=198.51.100.1")


def test_contexts_gathered_only_when_a_planned_probe_reads_them() -> None:
    from ihconform.facts.sections import sections_for
    from ihconform.registry import facts_needed

    assert not [s for s in sections_for(INV, {"sshd"})["app01"] if s.name.startswith("sshd_ctx")]
    needed = facts_needed(["host.mfa"])
    assert needed is not None and "sshd_ctx" in needed
    names = [s.name for s in sections_for(INV, needed)["app01"]]
    assert "sshd_ctx.root@198.51.100.254" in names and NAMED_SECTION in names


def test_every_context_argument_is_shell_quoted() -> None:
    odd = Host(id="odd", address="198.51.100.77", user="a'b;reboot", jump="bastion")
    inv = INV.model_copy(update={"hosts": (*INV.hosts, odd)})
    secs = context_sections(inv, odd, config="/tmp/x y/sshd_config")
    assert not any("reboot" in s.name for s in secs)  # a user name that is no name is not a context
    for s in secs:
        if s.name != NAMED_SECTION:
            assert shlex.split(s.command.rpartition("; ")[2])[:4] == ["sshd", "-T", "-f", "/tmp/x y/sshd_config"]
    named = next(s for s in secs if s.name == NAMED_SECTION).command
    assert "'/tmp/x y/sshd_config'" in named and "198.51.100.1 198.51.100.254" in named


def test_match_blocks_named_by_file_and_line() -> None:
    text = "".join(f"/etc/ssh/sshd_config:{n}:{line}\n" for n, line in enumerate(
        ["PermitRootLogin no", "Match User root", "PermitRootLogin yes", "Match all", "X11Forwarding no"], 1))
    blocks = match_blocks(config_lines(text.splitlines()))
    assert [b.name for b in blocks] == ['/etc/ssh/sshd_config:2 "Match User root"']
    assert blocks[0].settings == {"permitrootlogin": "yes"}
    # the old recording format (grep -H, no line number) still parses, without a number
    old = match_blocks(config_lines(["/etc/ssh/sshd_config:Match Address 10.0.0.0/8",
                                     "/etc/ssh/sshd_config:PasswordAuthentication yes"]))
    assert old[0].name == '/etc/ssh/sshd_config "Match Address 10.0.0.0/8"'
    assert old[0].criterion("address") == ["10.0.0.0/8"]


def test_a_context_that_could_not_be_evaluated_is_an_error(conforming: HostFacts) -> None:
    broken = with_text(conforming, NAMED_SECTION, "## ctx user alice alice 198.51.100.254\n"
                       "Bad Match condition\n## rc 255\n")
    with pytest.raises(FactUnavailable, match="exited 255: Bad Match condition"):
        judge(hp.test_remote_admin, "host.remote_admin", broken)
    cut = with_text(conforming, NAMED_SECTION, "## ctx user alice alice 198.51.100.254\nport 22\n")
    with pytest.raises(FactUnavailable, match="cut off"):
        judge(hp.test_remote_admin, "host.remote_admin", cut)


def test_no_context_gathered_is_an_error(app01_base: HostFacts) -> None:
    facts = HostFacts(host_id="app01", sections={k: v for k, v in app01_base.sections.items()
                                                 if not k.startswith("sshd_ctx")},
                      specs={k: v for k, v in app01_base.specs.items() if not k.startswith("sshd_ctx")})
    with pytest.raises(FactUnavailable, match="per connection context"):
        judge(hp.test_mfa, "host.mfa", facts)


# ---- the real sshd on the lab's configuration and its variants ------------------------------


@needs_sshd
def test_conforming_lab_passes_every_ssh_control(conforming: HostFacts) -> None:
    ctx = HostView(conforming).sshd_contexts
    assert set(ctx.by_label) >= {"user=root,addr=198.51.100.254", "user=ihprobe,addr=198.51.100.1"}
    assert ctx.by_label["user=root,addr=198.51.100.254"]["permitrootlogin"] == "no"
    for fn, pid in ((hp.test_remote_admin, "host.remote_admin"), (hp.test_mfa, "host.mfa"),
                    (hp.test_default_accounts, "host.default_accounts"), (hp.test_idle_timeout, "host.idle_timeout"),
                    (hp.test_mgmt_access, "host.mgmt_access")):
        v = judge(fn, pid, conforming)
        assert v.status is PASS, (pid, v.reason, v.observed)
    # the lab's documented KEX holds diffie-hellman-group16/18-sha512: not weak (RFC 9142)
    assert "diffie-hellman-group16-sha512" in HostView(conforming).sshd["kexalgorithms"]


@needs_sshd
def test_match_user_root_is_seen_and_named(app01_base: HostFacts) -> None:
    facts = real_facts("app01", lab_config("app01", "match-root-login"), INV, app01_base)
    view = HostView(facts)
    assert view.sshd["permitrootlogin"] == "no"  # plain sshd -T: the old false pass
    v = judge(hp.test_default_accounts, "host.default_accounts", facts)
    assert v.status is FAIL  # decisive: root may log in by password in some context
    found = " ".join(v.observed["root_password_login"])
    assert 'user=root,addr=198.51.100.254 (root): permitrootlogin yes' in found
    assert '(set by /etc/ssh/sshd_config:35 "Match User root")' in found
    # password login stays off: L3-CES1-04 is not touched by this block
    assert judge(hp.test_mfa, "host.mfa", facts).status is PASS


@needs_sshd
def test_match_address_enabling_passwords_fails_mfa_and_is_no_restriction(app01_base: HostFacts) -> None:
    facts = real_facts("app01", lab_config("app01", "match-password"), INV, app01_base)
    v = judge(hp.test_mfa, "host.mfa", facts)
    assert v.status is FAIL, v.reason  # decisive: password-only login from a non-management address
    assert "user=root,addr=198.51.100.254 (root): PasswordAuthentication yes" in v.reason
    assert '"Match Address 198.51.100.0/24"' in v.reason
    m = judge(hp.test_mgmt_access, "host.mgmt_access", facts)
    assert m.status is PASS and "Match Address" not in m.observed["met_by"]  # AllowUsers holds it
    assert "loosens, restricts nothing" in m.observed["Match Address (not a restriction)"][0]


@needs_sshd
def test_password_only_from_the_bastion_is_not_the_decisive_failure(app01_base: HostFacts) -> None:
    config = lab_config("app01") + "Match Address 198.51.100.1\n    PasswordAuthentication yes\n"
    v = judge(hp.test_mfa, "host.mfa", real_facts("app01", config, INV, app01_base))
    assert v.status is PASS, v.reason  # the bastion carries the second factor
    assert v.observed["password_only_login"] == []


@needs_sshd
def test_global_password_authentication_yes_fails_mfa(app01_base: HostFacts) -> None:
    config = lab_config("app01").replace("PasswordAuthentication no", "PasswordAuthentication yes")
    v = judge(hp.test_mfa, "host.mfa", real_facts("app01", config, INV, app01_base))
    assert v.status is FAIL
    assert "global (sshd -T): PasswordAuthentication yes" in v.reason


@needs_sshd
def test_empty_passwords_in_one_context_fail_mfa(app01_base: HostFacts) -> None:
    config = lab_config("app01") + "Match User alice\n    PermitEmptyPasswords yes\n"
    v = judge(hp.test_mfa, "host.mfa", real_facts("app01", config, INV, app01_base))
    assert v.status is FAIL
    # alice is named in a Match block, so the batch evaluated her context on the target
    assert any(e.startswith("user=alice,addr=198.51.100.254 (Match/AllowUsers user alice)")
               for e in v.observed["empty_password_login"]), v.observed["empty_password_login"]


@needs_sshd
def test_match_block_lifting_keepalive_and_tries(app01_base: HostFacts) -> None:
    config = lab_config("app01") + "Match User alice\n    ClientAliveCountMax 10\n    MaxAuthTries 20\n"
    facts = real_facts("app01", config, INV, app01_base)
    idle = judge(hp.test_idle_timeout, "host.idle_timeout", facts)
    assert idle.status is PARTIAL and any('"Match User alice"' in f for f in idle.observed["sshd_contexts_failing"])
    ra = judge(hp.test_remote_admin, "host.remote_admin", facts)
    assert ra.status is PARTIAL and any("maxauthtries 20" in f for f in ra.observed["MaxAuthTries_over"])


@needs_sshd
def test_a_group_without_members_is_said(app01_base: HostFacts) -> None:
    config = lab_config("app01") + "Match Group ihc-no-such-group\n    PasswordAuthentication yes\n"
    facts = real_facts("app01", config, INV, app01_base)
    assert "group ihc-no-such-group named in sshd_config has no member user: not evaluated" \
        in HostView(facts).sshd_contexts.notes
    # the block itself is still read: it loosens password login for whoever is in that group
    v = judge(hp.test_mfa, "host.mfa", facts)
    assert v.status is FAIL and '"Match Group ihc-no-such-group" sets passwordauthentication yes' in v.reason


@needs_sshd
def test_a_restricting_match_address_block_counts_for_mgmt_access(app01_base: HostFacts) -> None:
    config = lab_config("app01").replace(f"AllowUsers {plan.PROBE_USER}@{plan.BASTION.address}\n", "")
    config += "Match Address *,!198.51.100.1\n    DenyUsers *\n"
    facts = real_facts("app01", config, INV, app01_base)
    no_fw = with_text(facts, "firewall", "")
    no_fw = with_text(no_fw, "sshd", HostView(no_fw).facts.text("sshd").replace(
        "listenaddress 198.51.100.20:22", "listenaddress 0.0.0.0:22"))
    v = judge(hp.test_mgmt_access, "host.mgmt_access", no_fw)
    assert v.status is PASS and v.observed["met_by"] == ["Match Address"], v.observed
    # and from outside, sshd itself denies everyone: the context shows it
    outside = next(c for c in HostView(facts).sshd_contexts.contexts if c.label == f"user=root,addr={OUTSIDE_ADDR}")
    assert outside.settings["denyusers"] == "*"


@needs_sshd
def test_the_bastion_is_judged_as_the_bastion() -> None:
    base = load_dir(HERE / "lab" / "bastion", "bastion")
    facts = real_facts("bastion", lab_config("bastion"), INV, base)
    v = judge(hp.test_mfa, "host.mfa", facts)
    assert v.status is PASS and v.observed["judged_as"] == "bastion", v.reason
    # it has no management address of its own: only the outside context
    assert {c.addr for c in HostView(facts).sshd_contexts.contexts} == {OUTSIDE_ADDR}


# ---- stock OpenSSH defaults (issue 13 §6) ------------------------------------------------------


def _with_defaults(base: HostFacts, name: str) -> HostFacts:
    text = (DEFAULTS / name).read_text()
    facts = with_text(base, "sshd", text)
    for sec in [n for n in facts.specs if n.startswith("sshd_ctx.") and n != NAMED_SECTION]:
        facts = with_text(facts, sec, text)
    return with_text(with_text(facts, NAMED_SECTION, ""), "sshd_config", "")


@pytest.mark.parametrize(("fixture", "legacy"), [
    ("openssh-7.4.txt", {"hmac-sha1", "hmac-sha1-etm@openssh.com", "umac-64@openssh.com",
                         "umac-64-etm@openssh.com", "diffie-hellman-group14-sha1"}),
    ("openssh-8.0.txt", {"hmac-sha1", "hmac-sha1-etm@openssh.com", "umac-64@openssh.com",
                         "umac-64-etm@openssh.com", "diffie-hellman-group14-sha1"}),
    ("openssh-8.7.txt", {"hmac-sha1", "hmac-sha1-etm@openssh.com", "umac-64@openssh.com", "umac-64-etm@openssh.com"}),
    ("openssh-9.2.txt", {"hmac-sha1", "hmac-sha1-etm@openssh.com", "umac-64@openssh.com", "umac-64-etm@openssh.com"}),
    ("openssh-9.6.txt", {"hmac-sha1", "hmac-sha1-etm@openssh.com", "umac-64@openssh.com", "umac-64-etm@openssh.com"}),
])
def test_stock_openssh_defaults_are_not_a_high_risk_failure(app01_base: HostFacts, fixture: str,
                                                           legacy: set[str]) -> None:
    v = judge(hp.test_remote_admin, "host.remote_admin", _with_defaults(app01_base, fixture))
    # no algorithm of the stock lists fails; the legacy ones are noted; only the stock
    # MaxAuthTries 6 (threshold 5, not decisive) keeps it from 符合: 部分符合, never 不符合
    assert (v.observed["weak_ciphers"], v.observed["weak_macs"], v.observed["weak_kex"]) == ([], [], [])
    assert set(v.observed["legacy_but_accepted"]) == legacy
    assert v.status is PARTIAL and v.reason == "unmet: MaxAuthTries <= 5"


def test_stock_defaults_with_bounded_tries_pass_with_a_note(app01_base: HostFacts) -> None:
    facts = _with_defaults(app01_base, "openssh-7.4.txt")
    for name in [n for n in facts.specs if n == "sshd" or (n.startswith("sshd_ctx.") and n != NAMED_SECTION)]:
        facts = with_text(facts, name, facts.sections[name].output.decode().replace("maxauthtries 6",
                                                                                   "maxauthtries 4"))
    v = judge(hp.test_remote_admin, "host.remote_admin", facts)
    assert v.status is PASS and v.reason.startswith("legacy algorithms offered"), v.reason


def test_broken_algorithms_are_decisive(app01_base: HostFacts) -> None:
    v = judge(hp.test_remote_admin, "host.remote_admin", _with_defaults(app01_base, "broken-hardening.txt"))
    assert v.status is FAIL
    assert v.observed["weak_ciphers"] == ["3des-cbc", "arcfour256"]
    assert v.observed["weak_macs"] == ["hmac-md5"]
    assert v.observed["weak_kex"] == ["diffie-hellman-group1-sha1"]


def test_weak_names_match_exactly(app01_base: HostFacts) -> None:
    # the old substring test read diffie-hellman-group16/18-sha512 as "group1"
    assert hp._algorithm_hits("diffie-hellman-group16-sha512,diffie-hellman-group18-sha512,"
                              "diffie-hellman-group1-sha1", ["diffie-hellman-group1-sha1"]) == \
        ["diffie-hellman-group1-sha1"]


def test_the_syslog_receiver_on_514_is_no_remote_shell() -> None:
    base = load_dir(HERE / "lab" / "bastion", "bastion")
    v = judge(hp.test_remote_admin, "host.remote_admin", base)
    assert v.observed["cleartext_listening"] == [] and v.status is PASS, v.reason
    rsh = with_text(base, "listen", "tcp LISTEN 0 100 0.0.0.0:514 0.0.0.0:* users:((\"xinetd\",pid=9,fd=5))\n")
    v = judge(hp.test_remote_admin, "host.remote_admin", rsh)
    assert v.status is FAIL and v.observed["cleartext_listening"] == ["tcp/514 (xinetd)"]
    telnet = with_text(base, "listen", "tcp LISTEN 0 100 0.0.0.0:23 0.0.0.0:* users:((\"python3\",pid=9,fd=5))\n")
    assert judge(hp.test_remote_admin, "host.remote_admin", telnet).status is FAIL
