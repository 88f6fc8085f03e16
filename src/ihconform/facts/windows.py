"""The Windows Server collector of the contract: one PowerShell script per host, one JSON answer.

Why PowerShell and JSON: on a Chinese Windows the console is CP936 and ``net accounts``,
``netsh`` and ``w32tm``'s text are translated, so the batch reads what does not depend on the
display language (secedit export keys, audit subcategory GUIDs, well-known SIDs -500/-501,
registry values, enum integers) and prints them as JSON with the output forced to UTF-8.

The answer is one JSON document written **one section per line**::

    {"ihconform":"windows-batch/1","nonce":"…","collected":"2026-…Z","sections":[
    {"n":"<nonce>","name":"secedit","status":"complete","ms":41,"error":null,"data":"…"},
    …
    {"n":"<nonce>","name":"end"}]}

``ConvertTo-Json -Compress`` escapes every line break inside a value, so target data can never
start a line of its own: a section line is whole or cut. A stream cut short (dropped connection,
offline file truncated) still yields the sections whose lines are whole; the one being written
is ``cut`` and the rest are ``absent`` (contract.py) — 检查错误, never a fact.

How it travels: Windows' OpenSSH server runs the exec request through ``cmd.exe``, whose command
line is limited to 8191 characters, and the batch is larger. So the command sent is a short
bootstrap, ``powershell -NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand
<UTF-16LE base64>``, that reads the batch (ASCII) from standard input and runs it; the batch is
byte for byte what ``ihconform collect-script windows`` prints. Offline, an administrator runs
that script with ``-OutFile``; :func:`load_recording` reads the file it writes (UTF-8, with or
without BOM, or UTF-16LE when redirected with PowerShell's ``>``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ihconform.errors import TransportError
from ihconform.facts.contract import HostFacts, Section, SectionResult
from ihconform.transport.base import Transport

#: The answer's format tag: a recording with another tag is refused, not guessed at.
FORMAT = "windows-batch/1"
#: Exit code a section carries when its PowerShell block threw (its message is the output).
EXIT_FAILED = 1
_NONCE = re.compile(r"^[0-9A-Za-z-]{4,64}$")


def _sec(name: str, body: str, cap: int = 1024 * 1024) -> Section:
    return Section(name=name, command=body.strip(), timeout=60, cap=cap)


# Each body is a PowerShell block whose value becomes the section's ``data``. A native tool's
# non-zero exit is thrown, so the section is ``failed`` with the tool's words. Native tools are
# decoded with the console's OEM code page (Ihc-Native); the batch's own output is written as UTF-8
# through its own stream on stdout (or -OutFile), whatever the console's code page.
WINDOWS_SECTIONS: tuple[Section, ...] = (
    _sec("os", r"""
$os = Get-CimInstance -ClassName Win32_OperatingSystem
$cv = Get-ItemProperty -Path 'HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion'
[ordered]@{ Caption = $os.Caption; Version = $os.Version; BuildNumber = $os.BuildNumber
  OSLanguage = $os.OSLanguage; ProductType = $os.ProductType; LastBootUpTime = $os.LastBootUpTime
  UBR = $cv.UBR; ReleaseId = $cv.ReleaseId; DisplayVersion = $cv.DisplayVersion; EditionID = $cv.EditionID
  PSVersion = $PSVersionTable.PSVersion.ToString(); Culture = (Get-Culture).Name
  OEMCodePage = [Globalization.CultureInfo]::CurrentCulture.TextInfo.OEMCodePage
  ComputerName = $env:COMPUTERNAME; PartOfDomain = (Get-CimInstance -ClassName Win32_ComputerSystem).PartOfDomain }
"""),
    _sec("secedit", r"""
$f = Join-Path -Path $env:TEMP -ChildPath ('ihc-' + $IhcNonce + '.inf')
try {
  $o = Ihc-Native { secedit.exe /export /areas SECURITYPOLICY /cfg $f /quiet }
  if ($LASTEXITCODE -ne 0) { throw ('secedit /export exited ' + $LASTEXITCODE + ': ' + ($o -join ' ')) }
  [IO.File]::ReadAllText($f, [Text.Encoding]::Unicode)
} finally { Remove-Item -LiteralPath $f -Force -ErrorAction SilentlyContinue }
"""),
    _sec("auditpol", r"""
$o = Ihc-Native { auditpol.exe /get /category:* /r }
if ($LASTEXITCODE -ne 0) { throw ('auditpol exited ' + $LASTEXITCODE + ': ' + ($o -join ' ')) }
($o | Where-Object { $_ -ne '' }) -join "`n"
"""),
    _sec("users", r"""
,@(Get-LocalUser | ForEach-Object { [ordered]@{ Name = $_.Name; SID = $_.SID.Value; Enabled = $_.Enabled
  PasswordRequired = $_.PasswordRequired; PasswordExpires = $_.PasswordExpires
  PasswordLastSet = $_.PasswordLastSet; LastLogon = $_.LastLogon; UserMayChangePassword = $_.UserMayChangePassword
  PrincipalSource = $_.PrincipalSource } })
"""),
    _sec("registry", r"""
$want = @(
  @('HKLM:\SYSTEM\CurrentControlSet\Control\Terminal Server', 'fDenyTSConnections'),
  @('HKLM:\SYSTEM\CurrentControlSet\Control\Terminal Server\WinStations\RDP-Tcp', 'UserAuthentication'),
  @('HKLM:\SYSTEM\CurrentControlSet\Control\Terminal Server\WinStations\RDP-Tcp', 'SecurityLayer'),
  @('HKLM:\SYSTEM\CurrentControlSet\Control\Terminal Server\WinStations\RDP-Tcp', 'MinEncryptionLevel'),
  @('HKLM:\SYSTEM\CurrentControlSet\Control\Terminal Server\WinStations\RDP-Tcp', 'MaxIdleTime'),
  @('HKLM:\SYSTEM\CurrentControlSet\Control\Terminal Server\WinStations\RDP-Tcp', 'MaxDisconnectionTime'),
  @('HKLM:\SYSTEM\CurrentControlSet\Control\Terminal Server\WinStations\RDP-Tcp', 'PortNumber'),
  @('HKLM:\SOFTWARE\Policies\Microsoft\Windows NT\Terminal Services', 'fDenyTSConnections'),
  @('HKLM:\SOFTWARE\Policies\Microsoft\Windows NT\Terminal Services', 'UserAuthentication'),
  @('HKLM:\SOFTWARE\Policies\Microsoft\Windows NT\Terminal Services', 'SecurityLayer'),
  @('HKLM:\SOFTWARE\Policies\Microsoft\Windows NT\Terminal Services', 'MinEncryptionLevel'),
  @('HKLM:\SOFTWARE\Policies\Microsoft\Windows NT\Terminal Services', 'MaxIdleTime'),
  @('HKLM:\SOFTWARE\Policies\Microsoft\Windows NT\Terminal Services', 'MaxDisconnectionTime'),
  @('HKLM:\SYSTEM\CurrentControlSet\Services\LanmanServer\Parameters', 'SMB1'),
  @('HKLM:\SYSTEM\CurrentControlSet\Services\LanmanServer\Parameters', 'AutoShareServer'),
  @('HKLM:\SYSTEM\CurrentControlSet\Services\mrxsmb10', 'Start'),
  @('HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System', 'InactivityTimeoutSecs'),
  @('HKLM:\SYSTEM\CurrentControlSet\Control\Lsa', 'LimitBlankPasswordUse'),
  @('HKLM:\SYSTEM\CurrentControlSet\Control\Lsa', 'RestrictAnonymous'),
  @('HKLM:\SYSTEM\CurrentControlSet\Services\W32Time\Parameters', 'Type'),
  @('HKLM:\SYSTEM\CurrentControlSet\Services\W32Time\Parameters', 'NtpServer'),
  @('HKLM:\SOFTWARE\Policies\Microsoft\W32Time\Parameters', 'Type'),
  @('HKLM:\SOFTWARE\Policies\Microsoft\W32Time\Parameters', 'NtpServer'))
$rows = @(foreach ($w in $want) {
  $p = Get-ItemProperty -LiteralPath $w[0] -Name $w[1] -ErrorAction SilentlyContinue
  if ($null -eq $p) { [ordered]@{ Path = $w[0]; Name = $w[1]; Exists = $false; Value = $null } }
  else { [ordered]@{ Path = $w[0]; Name = $w[1]; Exists = $true; Value = $p.($w[1]) } } })
$wef = 'HKLM:\SOFTWARE\Policies\Microsoft\Windows\EventLog\EventForwarding\SubscriptionManager'
if (Test-Path -LiteralPath $wef) { $k = Get-Item -LiteralPath $wef
  foreach ($n in $k.GetValueNames()) {
    $rows += [ordered]@{ Path = $wef; Name = $n; Exists = $true; Value = $k.GetValue($n) } } }
,$rows
"""),
    _sec("eventlogs", r"""
,@(Get-WinEvent -ListLog Security, System, Application | ForEach-Object { [ordered]@{ LogName = $_.LogName
  MaximumSizeInBytes = $_.MaximumSizeInBytes; LogMode = $_.LogMode; IsEnabled = $_.IsEnabled } })
"""),
    _sec("smb", r"""
$c = Get-SmbServerConfiguration
[ordered]@{ EnableSMB1Protocol = $c.EnableSMB1Protocol; EnableSMB2Protocol = $c.EnableSMB2Protocol
  AutoShareServer = $c.AutoShareServer; RequireSecuritySignature = $c.RequireSecuritySignature
  EncryptData = $c.EncryptData
  Shares = @(Get-SmbShare | ForEach-Object { [ordered]@{ Name = $_.Name; Path = $_.Path; Special = $_.Special } }) }
"""),
    _sec("firewall", r"""
,@(Get-NetFirewallProfile -PolicyStore ActiveStore | ForEach-Object { [ordered]@{ Name = $_.Name
  Enabled = $_.Enabled; DefaultInboundAction = $_.DefaultInboundAction
  DefaultOutboundAction = $_.DefaultOutboundAction } })
"""),
    _sec("defender", r"""
if (-not (Get-Command -Name Get-MpComputerStatus -ErrorAction SilentlyContinue)) { [ordered]@{ Present = $false } }
else { $m = Get-MpComputerStatus
  [ordered]@{ Present = $true; AMServiceEnabled = $m.AMServiceEnabled; AntivirusEnabled = $m.AntivirusEnabled
    RealTimeProtectionEnabled = $m.RealTimeProtectionEnabled
    AntivirusSignatureLastUpdated = $m.AntivirusSignatureLastUpdated
    AntivirusSignatureVersion = $m.AntivirusSignatureVersion } }
"""),
    _sec("services", r"""
,@(Get-CimInstance -ClassName Win32_Service | ForEach-Object { [ordered]@{ Name = $_.Name
  DisplayName = $_.DisplayName; State = $_.State; StartMode = $_.StartMode; ProcessId = $_.ProcessId } })
"""),
    _sec("hotfixes", r"""
,@(Get-HotFix | ForEach-Object { [ordered]@{ HotFixID = $_.HotFixID; Description = $_.Description
  InstalledOn = $_.InstalledOn } })
"""),
    _sec("listening", r"""
$names = @{}; Get-Process | ForEach-Object { $names[[int]$_.Id] = $_.ProcessName }
,@(Get-NetTCPConnection -State Listen | ForEach-Object { [ordered]@{ LocalAddress = $_.LocalAddress
  LocalPort = $_.LocalPort; OwningProcess = $_.OwningProcess; Process = $names[[int]$_.OwningProcess] } })
"""),
    _sec("mssql", r"""
$key = 'HKLM:\SOFTWARE\Microsoft\Microsoft SQL Server\Instance Names\SQL'
$names = Get-ItemProperty -LiteralPath $key -ErrorAction SilentlyContinue
$found = @()
if ($names) { foreach ($p in $names.PSObject.Properties) { if ($p.Name -like 'PS*') { continue }
  $reg = 'HKLM:\SOFTWARE\Microsoft\Microsoft SQL Server\' + $p.Value + '\MSSQLServer'
  $row = [ordered]@{ Instance = $p.Name; Id = $p.Value; Error = $null; Logins = $null; Configurations = $null
    Audits = $null
    AuditLevel = (Get-ItemProperty -LiteralPath $reg -Name AuditLevel -ErrorAction SilentlyContinue).AuditLevel
    ForceEncryption = (Get-ItemProperty -LiteralPath ($reg + '\SuperSocketNetLib') -Name ForceEncryption `
      -ErrorAction SilentlyContinue).ForceEncryption }
  $server = if ($p.Name -eq 'MSSQLSERVER') { '.' } else { '.\' + $p.Name }
  try {
    $c = New-Object -TypeName System.Data.SqlClient.SqlConnection -ArgumentList ('Server=' + $server +
      ';Integrated Security=SSPI;Connect Timeout=5;Application Name=ihconform')
    $c.Open()
    try {
      $q = { param($Sql) $cmd = $c.CreateCommand(); $cmd.CommandText = $Sql; $r = $cmd.ExecuteReader(); $rows = @()
        while ($r.Read()) { $o = [ordered]@{}
          for ($i = 0; $i -lt $r.FieldCount; $i++) { $v = $r.GetValue($i); if ($v -is [DBNull]) { $v = $null }
            $o[$r.GetName($i)] = $v }
          $rows += $o }
        $r.Close(); ,$rows }
      $row.Logins = & $q ('SELECT name, principal_id, is_disabled, is_policy_checked, is_expiration_checked ' +
        'FROM sys.sql_logins')
      $row.Configurations = & $q ("SELECT name, CAST(value_in_use AS int) AS value FROM sys.configurations " +
        "WHERE name IN ('c2 audit mode', 'common criteria compliance enabled')")
      $row.Audits = & $q ('SELECT a.name, s.status_desc FROM sys.server_audits a ' +
        'LEFT JOIN sys.dm_server_audit_status s ON a.audit_id = s.audit_id')
    } finally { $c.Close() }
  } catch { $row.Error = $_.Exception.Message }
  $found += $row } }
,$found
"""),
    _sec("w32time", r"""
$o = Ihc-Native { w32tm.exe /query /source }
[ordered]@{ ExitCode = $LASTEXITCODE; Source = (($o | Where-Object { $_ -ne '' }) -join ' ').Trim() }
"""),
)

_PRELUDE = r"""param([string]$OutFile = '')
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$IhcNonce = '@NONCE@'
$IhcUtf8 = New-Object -TypeName System.Text.UTF8Encoding -ArgumentList $false
if ($OutFile) { $IhcOut = New-Object -TypeName System.IO.StreamWriter -ArgumentList $OutFile, $false, $IhcUtf8 }
else { $IhcOut = New-Object -TypeName System.IO.StreamWriter -ArgumentList ([Console]::OpenStandardOutput()), $IhcUtf8 }
function Ihc-Emit([string]$Line) { $IhcOut.Write($Line + "`n"); $IhcOut.Flush() }
function Ihc-Json($Value) {
  if ($null -eq $Value) { 'null' } else { ConvertTo-Json -InputObject $Value -Depth 6 -Compress } }
function Ihc-Native([scriptblock]$Run) {
  $was = [Console]::OutputEncoding
  $oem = [Globalization.CultureInfo]::CurrentCulture.TextInfo.OEMCodePage
  try { [Console]::OutputEncoding = [Text.Encoding]::GetEncoding($oem) } catch { }
  try { & $Run | ForEach-Object { "$_" } } finally { try { [Console]::OutputEncoding = $was } catch { } }
}
function Ihc-Section([string]$Name, [int]$Cap, [scriptblock]$Body) {
  $sw = [Diagnostics.Stopwatch]::StartNew()
  $status = 'complete'; $err = $null; $json = 'null'
  try { $json = Ihc-Json (& $Body) } catch { $status = 'failed'; $err = $_.Exception.Message }
  if ($json.Length -gt $Cap) {
    $status = 'cut'; $err = 'output of ' + $json.Length + ' characters exceeds the cap of ' + $Cap; $json = 'null' }
  Ihc-Emit ('{"n":"' + $IhcNonce + '","name":"' + $Name + '","status":"' + $status + '","ms":' +
    $sw.ElapsedMilliseconds + ',"error":' + (Ihc-Json $err) + ',"data":' + $json + '},')
}
$IhcWhen = [DateTime]::UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", [Globalization.CultureInfo]::InvariantCulture)
Ihc-Emit ('{"ihconform":"@FORMAT@","nonce":"' + $IhcNonce + '","collected":"' + $IhcWhen + '","sections":[')
"""

_EPILOGUE = r"""Ihc-Emit ('{"n":"' + $IhcNonce + '","name":"end"}]}')
$IhcOut.Close()
"""

#: Reads the batch from stdin as PowerShell's ``$input`` (powershell.exe hands a redirected stdin
#: to ``-EncodedCommand`` as its pipeline input, the way Ansible's Windows-over-SSH bootstrap gets
#: its payload) and runs it. The batch is pure ASCII (a test holds it so), so the console's input
#: code page cannot change it.
_BOOTSTRAP = "$ihcBatch = $input | Out-String; & ([scriptblock]::Create($ihcBatch))"


def build_script(sections: Sequence[Section], nonce: str) -> str:
    """The PowerShell batch for ``sections`` with ``nonce`` in every section line."""
    if not _NONCE.match(nonce):
        raise ValueError(f"nonce {nonce!r}: 4-64 letters, digits or '-'")
    body = "".join(f"Ihc-Section '{s.name}' {s.cap} {{\n{s.command}\n}}\n" for s in sections)
    return (_PRELUDE.replace("@NONCE@", nonce).replace("@FORMAT@", FORMAT) + body + _EPILOGUE)


def encoded_command(script: str) -> str:
    """``-EncodedCommand``'s argument: the UTF-16LE bytes of ``script``, base64."""
    return base64.b64encode(script.encode("utf-16-le")).decode("ascii")


#: The exec request sent over SSH: a short bootstrap that runs the batch read from stdin
#: (the batch itself exceeds cmd.exe's 8191-character command line).
BOOTSTRAP_COMMAND = ("powershell.exe -NoLogo -NoProfile -NonInteractive -ExecutionPolicy Bypass "
                     f"-EncodedCommand {encoded_command(_BOOTSTRAP)}")


def decode_answer(output: bytes) -> str:
    """The answer as text: UTF-8 (BOM or not), or UTF-16LE when it was written by PowerShell's
    ``>`` redirection (its BOM, or NUL bytes after ASCII, say so)."""
    if output.startswith(b"\xff\xfe"):
        return output[2:].decode("utf-16-le", "replace")
    if output.startswith(b"\xef\xbb\xbf"):
        return output[3:].decode("utf-8", "replace")
    if len(output) > 1 and output[1:2] == b"\x00":
        return output.decode("utf-16-le", "replace")
    return output.decode("utf-8", "replace")


@dataclass(frozen=True)
class Header:
    """The first line of an answer: which format, which run, when."""

    format: str
    nonce: str
    collected: str


def _header(text: str) -> Header | None:
    first = text.lstrip().split("\n", 1)[0].strip()
    if not first.endswith('"sections":['):
        return None
    try:
        doc = json.loads(first + "]}")
    except ValueError:
        return None
    if not isinstance(doc, dict):
        return None
    return Header(str(doc.get("ihconform", "")), str(doc.get("nonce", "")), str(doc.get("collected", "")))


def read_header(output: bytes) -> Header | None:
    """The answer's header, or None when the first line is not one."""
    return _header(decode_answer(output))


def canonical(data: Any) -> bytes:
    """A section's data as the bytes its digest is taken of (sorted keys, UTF-8)."""
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def parse_answer(output: bytes, nonce: str, sections: Sequence[Section]) -> dict[str, SectionResult]:
    """Split an answer into sections. A line that is not whole JSON carrying the run's nonce is
    the cut one (its section CUT); what never came is absent. A header for another run or
    format yields nothing at all."""
    text = decode_answer(output)
    head = _header(text)
    if head is None or head.format != FORMAT or head.nonce != nonce:
        return {}
    specs = {s.name: s for s in sections}
    out: dict[str, SectionResult] = {}
    start = re.compile(r'^\{"n":"' + re.escape(nonce) + r'","name":"([A-Za-z0-9_.-]+)"')
    for raw in text.lstrip().split("\n")[1:]:
        line = raw.strip()
        m = start.match(line)
        if not m or m.group(1) not in specs or m.group(1) in out:
            continue
        spec = specs[m.group(1)]
        whole = line.removesuffix("]}").removesuffix(",")
        try:
            rec = json.loads(whole)
        except ValueError:  # the line the stream ended in
            out[spec.name] = SectionResult(spec.name, spec.command, 0, line.encode("utf-8"), True, False)
            continue
        if not isinstance(rec, dict):
            continue
        ms = rec.get("ms")
        dur = ms if isinstance(ms, int) else None
        status = rec.get("status")
        if status == "complete":
            body = canonical(rec.get("data"))
            out[spec.name] = SectionResult(spec.name, spec.command, 0, body, len(body) > spec.cap, False, dur)
        elif status == "cut":
            why = str(rec.get("error") or "cut on the target").encode("utf-8")
            out[spec.name] = SectionResult(spec.name, spec.command, 0, why, True, False, dur)
        else:
            why = str(rec.get("error") or f"section status {status!r}").encode("utf-8")
            out[spec.name] = SectionResult(spec.name, spec.command, EXIT_FAILED, why, False, False, dur)
    return out


def _facts_from(host_id: str, output: bytes, nonce: str, sections: Sequence[Section],
                identity: dict[str, str]) -> HostFacts:
    facts = HostFacts(host_id=host_id, specs={s.name: s for s in sections}, identity=identity)
    head = read_header(output)
    if head is None:
        facts.error = ("the answer is not a windows batch answer (no header line; first bytes: "
                       f"{decode_answer(output[:80]).strip()[:80]!r})")
        return facts
    if head.format != FORMAT:
        facts.error = f"the answer is format {head.format!r}, this version reads {FORMAT!r}"
        return facts
    if head.nonce != nonce:
        facts.error = f"the answer is of run {head.nonce!r}, not of this run ({nonce!r})"
        return facts
    facts.identity["platform"] = "windows"
    facts.identity["collected"] = head.collected
    parsed = parse_answer(output, nonce, sections)
    facts.sections = {s.name: parsed[s.name] for s in sections if s.name in parsed}
    return facts


def load_recording(path: Path, host_id: str, sections: Sequence[Section] = WINDOWS_SECTIONS) -> HostFacts:
    """An offline answer (the file ``collect-script windows`` writes on the host), as facts.
    Its nonce is the one inside the file; its SHA-256 and collection time go into the identity,
    which the host's transcript (evidence) records."""
    try:
        output = path.read_bytes()
    except OSError as exc:
        return HostFacts(host_id=host_id, error=f"offline recording {path}: {exc.strerror or exc}")
    head = read_header(output)
    identity = {"transport": "offline", "offline_file": str(path),
                "offline_sha256": hashlib.sha256(output).hexdigest()}
    return _facts_from(host_id, output, head.nonce if head else "", sections, identity)


class PowerShellBatch:
    """The Windows collector of the contract (:mod:`ihconform.facts.contract`)."""

    platform = "windows"

    def script(self, sections: Sequence[Section], nonce: str) -> str:
        return build_script(sections, nonce)

    def parse(self, output: bytes, nonce: str, sections: Sequence[Section]) -> dict[str, SectionResult]:
        return parse_answer(output, nonce, sections)

    def sections(self) -> list[Section]:
        """Every section of the Windows batch (it is sent whole: every section is cheap)."""
        return list(WINDOWS_SECTIONS)

    def collect(self, transport: Transport, sections: Sequence[Section], *, timeout: float,
                sudo: bool = False, sudo_password: str | None = None) -> HostFacts:
        sections = sections or WINDOWS_SECTIONS
        nonce = secrets.token_hex(8)
        script = build_script(sections, nonce)
        start = time.monotonic()
        before = transport.round_trips
        try:
            res = transport.run(BOOTSTRAP_COMMAND, stdin=script.encode("utf-8"), timeout=timeout,
                                cap=64 * 1024 * 1024)
        except TransportError as exc:
            return HostFacts(host_id=transport.host_id, specs={s.name: s for s in sections},
                             identity=dict(transport.identity), error=str(exc),
                             duration_s=time.monotonic() - start, round_trips=transport.round_trips - before)
        facts = _facts_from(transport.host_id, res.stdout, nonce, sections, dict(transport.identity))
        if facts.error and res.exit_code != 0:
            why = (res.stderr or res.stdout).decode("utf-8", "replace").strip().splitlines()[:1]
            facts.error = f"powershell exited {res.exit_code}: {why[0][:300] if why else 'no output'}"
        facts.duration_s = time.monotonic() - start
        facts.round_trips = transport.round_trips - before
        return facts

    def load(self, path: Path, host_id: str, sections: Sequence[Section] = WINDOWS_SECTIONS) -> HostFacts:
        return load_recording(path, host_id, sections or WINDOWS_SECTIONS)


POWERSHELL_BATCH = PowerShellBatch()
