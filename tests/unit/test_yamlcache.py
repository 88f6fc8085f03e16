"""The walked form of the built-in profiles is kept between runs (ihconform.yamlcache): served
only for the very same text and loader, read back as plain values only, and a cache that cannot
be used is a miss, never an error."""

from __future__ import annotations

import os
import pickle
import time
from pathlib import Path

import pytest

from ihconform import yamlcache, yamlio
from ihconform.catalog import builtin_profiles
from ihconform.yamlio import load_yaml


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("IHCONFORM_NO_CACHE", raising=False)
    return tmp_path / "cache" / "ihconform" / "yaml"


@pytest.fixture
def profile() -> tuple[Path, str]:
    path = max(builtin_profiles().values(), key=lambda p: p.stat().st_size)  # the largest: most marks
    return path, path.read_text(encoding="utf-8")


class _NoCompose:
    def __init__(self, text: str) -> None:
        raise AssertionError("composed again: the kept form was not used")


def test_a_second_load_is_served_whole_without_composing(cache, profile, monkeypatch):
    path, text = profile
    first = load_yaml(path, text, packaged=True)
    assert len(list(cache.iterdir())) == 1
    monkeypatch.setattr(yamlio, "_PackagedLoader", _NoCompose)
    again = load_yaml(path, text, packaged=True)
    assert again.data == first.data and again.marks == first.marks and again.path == path


def test_a_changed_text_is_walked_again_never_served_stale(cache, profile):
    path, text = profile
    load_yaml(path, text, packaged=True)
    changed = text.replace("controls:", "controls:\n# a line more", 1)
    assert changed != text
    doc = load_yaml(path, changed, packaged=True)
    slow = load_yaml(path, changed)
    assert doc.marks == slow.marks and doc.data == slow.data  # the lines moved by one
    assert doc.marks != load_yaml(path, text).marks


def test_a_changed_loader_is_walked_again(cache, profile, monkeypatch, tmp_path):
    path, text = profile
    load_yaml(path, text, packaged=True)
    walker = tmp_path / "yamlio.py"
    walker.write_bytes(yamlcache._WALKER.read_bytes() + b"\n# changed\n")
    monkeypatch.setattr(yamlcache, "_WALKER", walker)
    assert yamlcache.get(path, text) is None


class _Planted:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch {self.flag}",))

    def __init__(self, flag: Path) -> None:
        self.flag = flag


def test_a_planted_entry_runs_no_code_and_the_file_is_read_again(cache, profile, tmp_path):
    path, text = profile
    load_yaml(path, text, packaged=True)
    entry = next(cache.iterdir())
    flag = tmp_path / "ran"
    key = yamlcache._key(text)
    entry.write_bytes(pickle.dumps((key, {"profile": _Planted(flag)}, {})))
    doc = load_yaml(path, text, packaged=True)
    assert not flag.exists()
    assert doc.data == load_yaml(path, text).data  # walked again, and the entry replaced
    assert yamlcache.get(path, text) is not None and not flag.exists()


@pytest.mark.parametrize("damage", [b"", b"not a pickle", b"\x80\x05garbage"])
def test_a_damaged_entry_is_a_miss(cache, profile, damage):
    path, text = profile
    load_yaml(path, text, packaged=True)
    next(cache.iterdir()).write_bytes(damage)
    assert load_yaml(path, text, packaged=True).data == load_yaml(path, text).data


def test_an_unwritable_cache_is_no_error(cache, profile):
    path, text = profile
    cache.parent.mkdir(parents=True)
    cache.write_text("a file where the folder should be")
    assert load_yaml(path, text, packaged=True).data == load_yaml(path, text).data


def test_off_when_asked_and_never_for_a_users_file(cache, profile, monkeypatch, write):
    path, text = profile
    monkeypatch.setenv("IHCONFORM_NO_CACHE", "1")
    load_yaml(path, text, packaged=True)
    assert not cache.exists()
    monkeypatch.delenv("IHCONFORM_NO_CACHE")
    load_yaml(write("mine.yaml", text))
    assert not cache.exists()


def test_entries_unused_for_a_month_are_removed_when_one_is_written(cache, profile, tmp_path):
    path, text = profile
    cache.mkdir(parents=True)
    stale, recent = cache / ("0" * 32 + ".pickle"), cache / ("1" * 32 + ".pickle")
    for f in (stale, recent):
        f.write_bytes(b"an entry of another installation")
    month_ago = time.time() - yamlcache.PRUNE_AFTER_S - 3600
    os.utime(stale, (month_ago, month_ago))
    load_yaml(path, text, packaged=True)
    assert not stale.exists() and recent.exists() and len(list(cache.glob("*.pickle"))) == 2
    mine = next(f for f in cache.glob("*.pickle") if f != recent)
    os.utime(mine, (month_ago, month_ago))
    assert yamlcache.get(path, text) is not None  # read: in use again
    assert time.time() - mine.stat().st_mtime < 60
