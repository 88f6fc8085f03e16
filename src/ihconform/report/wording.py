"""How values read in the deliverable: plain sentences, Beijing time, 第三级, causes first.

Why a module of its own: the report is signed by a tester and read by an assessor, so nothing in
it may look like program output — no JSON, no Python reprs, no UTC ISO stamps, no internal notes —
and HTML, PDF and Word must word things identically. Every renderer takes its text from here
(through :mod:`ihconform.report.view`); nothing here judges anything.
"""

from __future__ import annotations

import ast
import datetime as _dt
import json
import re
from collections.abc import Mapping
from typing import Any

from ihconform.report.i18n import OBJECT_TYPES, Lang
from ihconform.text import INTERNAL_MARKERS as INTERNAL_MARKERS  # re-exported: the report strips them
from ihconform.text import clean_note as clean_note

#: China Standard Time: the report's times are 北京时间 (UTC+08:00), never UTC ISO stamps.
BEIJING = _dt.timezone(_dt.timedelta(hours=8), "北京时间")
_LEVELS = {1: "第一级", 2: "第二级", 3: "第三级", 4: "第四级", 5: "第五级"}
_LEVELS_EN = {1: "Level 1", 2: "Level 2", 3: "Level 3", 4: "Level 4", 5: "Level 5"}


def beijing(stamp: str) -> _dt.datetime | None:
    """An ISO time stamp (any offset; naive is read as UTC) in 北京时间, or None if unreadable."""
    try:
        t = _dt.datetime.fromisoformat(stamp)
    except (TypeError, ValueError):
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=_dt.UTC)
    return t.astimezone(BEIJING)


def period(started: str, finished: str, lang: Lang) -> str:
    """The test period as a tester writes it: ``2026年11月01日 17:00 至 17:12（北京时间 UTC+08:00）``."""
    a, b = beijing(started), beijing(finished)
    if a is None or b is None:
        return f"{started} — {finished}"
    same_day = a.date() == b.date()
    if lang == "zh":
        end = f"{b:%H:%M}" if same_day else f"{b:%Y年%m月%d日 %H:%M}"
        return f"{a:%Y年%m月%d日 %H:%M} 至 {end}（北京时间 UTC+08:00）"
    end = f"{b:%H:%M}" if same_day else f"{b:%Y-%m-%d %H:%M}"
    return f"{a:%Y-%m-%d %H:%M} – {end} (Beijing time, UTC+08:00)"


def day(stamp: str, lang: Lang) -> str:
    """A date in 北京时间: ``2026年11月01日`` (a ``YYYY-MM-DD`` date is taken as given)."""
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", stamp):
        d = _dt.date.fromisoformat(stamp)
    else:
        t = beijing(stamp)
        if t is None:
            return stamp
        d = t.date()
    return f"{d:%Y年%m月%d日}" if lang == "zh" else f"{d:%Y-%m-%d}"


def when(stamp: str, lang: Lang) -> str:
    """A point in time in 北京时间, minutes precision, with the zone named."""
    t = beijing(stamp)
    if t is None:
        return stamp
    return f"{t:%Y年%m月%d日 %H:%M}（北京时间）" if lang == "zh" else f"{t:%Y-%m-%d %H:%M} (UTC+08:00)"


def level(value: object, lang: Lang) -> str:
    """``3`` → 第三级 (the level as the regulations and the 备案证明 write it)."""
    try:
        n = int(str(value))
    except ValueError:
        return str(value)
    return (_LEVELS if lang == "zh" else _LEVELS_EN).get(n, str(value))


# ---- reasons: the cause first -----------------------------------------------------------------

_COMMAND = re.compile(r"`([^`]{48,})`")
COMMAND_SHOWN = 60  # characters of a long command kept, after the cause


def cause_first(text: str, lang: Lang) -> str:
    """A reason with each long quoted command (```psql -X … 2,000 characters```) replaced by
    “命令” and appended after the cause, shortened: an assessor reads why a check failed
    (``exited 2: FATAL: password authentication failed``) before what was run."""
    commands: list[str] = []

    def _cut(m: re.Match[str]) -> str:
        commands.append(m.group(1))
        return f"[命令{len(commands)}]" if lang == "zh" else f"[command {len(commands)}]"

    head = _COMMAND.sub(_cut, text)
    if not commands:
        return text
    tails = []
    for i, cmd in enumerate(commands, 1):
        short = cmd if len(cmd) <= COMMAND_SHOWN else cmd[:COMMAND_SHOWN] + "…"
        tails.append(f"[命令{i}] {short}" if lang == "zh" else f"[command {i}] {short}")
    return head + "\n" + "\n".join(tails)


_CJK = re.compile(r"[\u3400-\u9fff]")
#: English-only phrases probes return, in plain Chinese (the rest of such a reason is kept).
_PHRASES_ZH = (
    (re.compile(r"^all parts met$"), "各子项均符合"),
    (re.compile(r"^unmet: "), "未满足："),
    (re.compile(r"^no attestation recorded$"), "未登记证明材料"),
    (re.compile(r"^tailored out: "), "已裁剪："),
    (re.compile(r"(?<=[；;：:，,）)])\s*expected: "), "应为："),
    (re.compile(r"^expected: "), "应为："),
)


_TYPE_ZH = re.compile(r"\b([a-z][a-z-]+[a-z])(\s*类对象)")


def localise_reason(text: str, lang: Lang) -> str:
    """Bilingual reasons (``中文 / English`` per clause) in the report's language; a few English
    phrases probes use rendered in Chinese. Text with no Chinese half stays as the probe wrote it."""
    parts = re.split(r"([;；]\s*)", text)
    out: list[str] = []
    for part in parts:
        if re.fullmatch(r"[;；]\s*", part):
            out.append("；" if lang == "zh" else "; ")
            continue
        zh, sep, en = part.partition(" / ")
        if sep and _CJK.search(zh) and not _CJK.search(en.split(" / ")[0]):
            out.append(zh.strip() if lang == "zh" else en.strip())
            continue
        if lang == "zh":
            for pattern, repl in _PHRASES_ZH:
                part = pattern.sub(repl, part)
            part = _TYPE_ZH.sub(lambda m: OBJECT_TYPES.get(m.group(1), {"zh": m.group(1)})["zh"] + m.group(2), part)
        out.append(part)
    return "".join(out)


def reason_text(text: str, lang: Lang) -> str:
    """What the 说明 column shows: localised, internal notes removed, no repr, the cause first."""
    return cause_first(unrepr(clean_note(localise_reason(text, lang)), lang), lang)


REPR_SPAN = 4000  # longer bracketed spans are left as they are


def _spans(text: str) -> list[tuple[int, int]]:
    """Top-level bracketed spans (``[…]``, ``{…}``) of ``text`` in one pass; quotes are only
    tracked inside brackets (an apostrophe in prose is not a quote). Stops at an unclosed one."""
    spans: list[tuple[int, int]] = []
    depth, quote, start, i = 0, "", 0, 0
    while i < len(text):
        ch = text[i]
        if depth == 0:
            if ch in "[{":
                depth, start = 1, i
        elif quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
            if depth == 0:
                spans.append((start, i + 1))
        i += 1
    return spans


def _parse(span: str) -> Any:
    for parse in (json.loads, ast.literal_eval):
        try:
            return parse(span)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
    return None


def unrepr(text: str, lang: Lang) -> str:
    """``text`` with every embedded Python repr or JSON value (``['apparmor', 'selinux']``,
    ``{"a": 1}``) written out as :func:`readable` would: probes sometimes format a list into a
    sentence, and the report must not show program syntax."""
    if "[" not in text and "{" not in text:
        return text
    out: list[str] = []
    last = 0
    for a, b in _spans(text):
        value = _parse(text[a:b]) if b - a <= REPR_SPAN else None
        if isinstance(value, list | tuple | dict | set):
            out.append(text[last:a])
            out.append(_inline(value, lang, 1) if isinstance(value, dict) else _inline(value, lang))
            last = b
    out.append(text[last:])
    return "".join(out)


# ---- observed values as readable text -------------------------------------------------------

#: Field names probes use, as a tester says them. A name not listed is shown as the probe named it.
FIELD_NAMES: dict[str, tuple[str, str]] = {
    "distinct_servers": ("独立服务器数", "distinct servers"),
    "hosts": ("主机", "hosts"),
    "unreachable": ("不可达", "unreachable"),
    "same_machine": ("同一物理机", "same machine"),
    "declared": ("清单声明", "declared"),
    "databases": ("数据库", "databases"),
    "app_servers": ("应用服务器", "application servers"),
    "app_hosts": ("应用服务器", "application hosts"),
    "db_hosts": ("数据库服务器", "database hosts"),
    "app_nodes": ("应用节点", "application nodes"),
    "rule": ("判定规则", "rule"),
    "readings": ("实测", "readings"),
    "documents": ("证明材料", "documents"),
    "status": ("状态", "status"),
    "servers": ("服务器", "servers"),
    "ups": ("UPS", "UPS"),
    "attestations": ("证明材料", "attestations"),
    "duplicate_names": ("重名账户", "duplicate names"),
    "duplicate_uids": ("重复 UID", "duplicate UIDs"),
    "empty_password": ("空口令账户", "accounts with an empty password"),
    "pam_module": ("口令复杂度模块", "password quality module"),
    "minlen": ("最小长度", "minimum length"),
    "classes": ("字符类别数", "character classes"),
    "remember": ("历史口令记忆数", "password history"),
    "login_defs": ("login.defs 设置", "login.defs"),
    "accounts_out_of_policy": ("不符合策略的账户", "accounts out of policy"),
    "module": ("模块", "module"),
    "deny": ("失败锁定次数", "failures before lockout"),
    "unlock_time": ("锁定时长（秒）", "lockout time (s)"),
    "nopasswd_all_non_admin": ("非管理员免密 sudo", "non-admin passwordless sudo"),
    "files": ("文件", "files"),
    "absent": ("不存在", "absent"),
    "too_open": ("权限过宽", "too open"),
    "running": ("运行中", "running"),
    "forwarding": ("外发", "forwarding"),
    "immutable": ("不可更改", "immutable"),
    "rules": ("规则", "rules"),
    "rule_files": ("规则文件", "rule files"),
    "unwatched": ("未监控", "unwatched"),
    "manager": ("包管理器", "package manager"),
    "pending_security": ("待安装安全更新", "pending security updates"),
    "packages": ("软件包", "packages"),
    "weak_hashes": ("弱口令散列", "weak hashes"),
    "jobs": ("任务", "jobs"),
    "newest_backup_age_h": ("最近备份距今（小时）", "newest backup age (h)"),
    "median_mbps": ("带宽中位数（Mbps）", "median (Mbps)"),
    "p10_mbps": ("带宽 P10（Mbps）", "P10 (Mbps)"),
    "samples": ("样本数", "samples"),
    "contracted_mbps": ("合同带宽（Mbps）", "contracted (Mbps)"),
    "band": ("区间", "band"),
    "download": ("下行", "download"),
    "upload": ("上行", "upload"),
    "pass_max_days": ("口令最长有效期（天）", "password max age (days)"),
}
_NONE = {"zh": "无", "en": "none"}
_YES = {"zh": "是", "en": "yes"}
_NO = {"zh": "否", "en": "no"}


def field_name(key: str, lang: Lang) -> str:
    names = FIELD_NAMES.get(key)
    return key if names is None else names[0 if lang == "zh" else 1]


def _inline(value: Any, lang: Lang, depth: int = 0) -> str:
    if value is None:
        return _NONE[lang]
    if isinstance(value, bool):
        return (_YES if value else _NO)[lang]
    if isinstance(value, int | float):
        return f"{value:g}" if isinstance(value, float) else str(value)
    if isinstance(value, str):  # bounded: the report shows a few hundred characters of it
        return unrepr(value[:REPR_SPAN], lang) + ("…" if len(value) > REPR_SPAN else "")
    if isinstance(value, Mapping):
        if not value:
            return _NONE[lang]
        sep = "；" if lang == "zh" else "; "
        colon = "：" if lang == "zh" else ": "
        inner = sep.join(f"{field_name(str(k), lang)}{colon}{_inline(v, lang, depth + 1)}" for k, v in value.items())
        return inner if depth == 0 else ("（" + inner + "）" if lang == "zh" else "(" + inner + ")")
    if isinstance(value, list | tuple | set | frozenset):
        items = [_inline(v, lang, depth + 1) for v in value]
        return ("、" if lang == "zh" else ", ").join(items) if items else _NONE[lang]
    return str(value)


def readable(value: Any, lang: Lang) -> str:
    """An observed or expected value as the report prints it: a mapping one ``名称：值`` per line,
    lists joined with 、, booleans 是/否, nothing empty shown as 无 — never JSON or a repr."""
    if value is None or value == "":
        return ""
    if isinstance(value, Mapping):
        if not value:
            return _NONE[lang]
        colon = "：" if lang == "zh" else ": "
        return "\n".join(f"{field_name(str(k), lang)}{colon}{_inline(v, lang, 1)}" for k, v in value.items())
    return _inline(value, lang)
