"""Secrets the inventory references: files readable by their owner only, and env files.

A secret never appears in an inventory; the inventory names where it lives (an environment
variable, a key file, a private file). ``defaults.env_file`` names a ``KEY=value`` file (mode
0600) whose variables are set for the run unless the environment already has them, so a site,
a CI job or the lab keeps every credential in one private file.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ihconform.errors import ConfigError, FactUnavailable, IhconformError, Location

_LINE = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


def read_secret_file(path: Path) -> str:
    """A secret file must be private to its owner; its content is used, never logged."""
    st = path.stat()
    if st.st_mode & 0o077:
        raise IhconformError(f"{path} is readable by others (mode {st.st_mode & 0o777:o}); chmod 600 it")
    try:
        return path.read_text(encoding="utf-8").rstrip("\n")
    except UnicodeDecodeError as exc:  # a ValueError, not an OSError: callers expect IhconformError
        raise IhconformError(f"{path} is not valid UTF-8 (byte {exc.start})") from None


def env_secret(name: str, what: str) -> str:
    """The secret in environment variable ``name``, which the inventory names for ``what``.
    Unset, it is FactUnavailable naming the variable (never a value): whatever needed it is
    检查错误, the rest of the run goes on."""
    value = os.environ.get(name)
    if value is None:
        raise FactUnavailable(f"{what}: environment variable {name} is not set")
    return value


def optional_env_secret(name: str | None, what: str) -> str | None:
    """A credential the inventory may leave out (a BMC's or UPS's): no variable named, none sent;
    named but unset, FactUnavailable as :func:`env_secret`."""
    return None if name is None else env_secret(name, what)


def parse_env_file(path: Path) -> dict[str, str]:
    """``KEY=value`` lines (``export`` and surrounding quotes allowed; ``#`` comments)."""
    try:
        text = read_secret_file(path)
    except (OSError, IhconformError) as exc:
        raise ConfigError(str(exc), Location(path), field="defaults.env_file") from None
    out: dict[str, str] = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _LINE.match(line)
        if m is None:
            raise ConfigError("expected KEY=value", Location(path, n, 1), field="defaults.env_file")
        value = m.group(2).strip()
        if "\x00" in value:  # os.environ cannot hold it; say where, not what (it is a secret)
            raise ConfigError("NUL character in the value", Location(path, n, 1), field="defaults.env_file")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out[m.group(1)] = value
    return out


def apply_env_file(path: Path | None) -> list[str]:
    """Set the file's variables that the environment does not already define; returns their names."""
    if path is None:
        return []
    applied = []
    for key, value in parse_env_file(path).items():
        if key not in os.environ:
            os.environ[key] = value
            applied.append(key)
    return applied
