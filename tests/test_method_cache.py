"""The console script's start-up settings change no result: dataclass methods made through the method cache
are the stdlib's own (same code, same behaviour), hits skip only the compile, a damaged file is ignored and
rewritten; the entry point raises the gen-0 threshold only (sloplan/command.py, sloplan/method_cache.py)."""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from dataclasses import FrozenInstanceError, dataclass, field

import pytest

from sloplan.method_cache import MethodCache, _FILE_NAME


def _make():
    """A fresh class of each kind the code base uses: frozen with defaults and a factory, and a plain one."""
    @dataclass(frozen=True)
    class Point:
        x: int
        y: float = 1.5
        tags: tuple = field(default_factory=tuple)

    @dataclass(order=True)
    class Box:
        w: int
        h: int = 0

    return Point, Box


def _methods(cls) -> dict:
    """Each generated method's code and annotations, comparable across two class objects."""
    out = {}
    for name in ("__init__", "__repr__", "__eq__", "__hash__", "__setattr__", "__delattr__", "__lt__"):
        fn = cls.__dict__.get(name)
        if fn is not None and hasattr(fn, "__code__"):
            c = fn.__code__
            out[name] = (c.co_code, c.co_consts, c.co_names, c.co_varnames, c.co_filename, c.co_flags,
                         repr(fn.__annotations__), fn.__qualname__, fn.__defaults__ is None)
    return out


@pytest.fixture
def cached(tmp_path, monkeypatch):
    """A method cache on a temporary file in front of dataclasses' exec (undone after the test)."""
    cache = MethodCache(tmp_path / _FILE_NAME)
    monkeypatch.setattr(dataclasses, "exec", cache.run, raising=False)
    return cache


def test_methods_are_the_stdlibs_own(cached):
    with pytest.MonkeyPatch.context() as mp:
        mp.delattr(dataclasses, "exec")
        plain = _make()
    through = _make()
    assert cached.added > 0
    for a, b in zip(plain, through):
        assert _methods(a) == _methods(b) and _methods(a)
    Point, Box = through
    p = Point(2)
    assert repr(p) == repr(plain[0](2)) and repr(p).endswith("Point(x=2, y=1.5, tags=())")
    assert p == Point(2, 1.5, ()) and hash(p) == hash(Point(2)) and p != Point(3)
    with pytest.raises(FrozenInstanceError):
        p.x = 5
    assert Box(1, 2) < Box(2, 0) and sorted([Box(3), Box(1, 9)]) == [Box(1, 9), Box(3)]


def test_a_saved_cache_serves_every_method_without_compiling(cached, tmp_path):
    first = _make()
    cached.save()
    again = MethodCache(tmp_path / _FILE_NAME)
    assert len(again.codes) == len(cached.codes) == cached.added
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(dataclasses, "exec", again.run, raising=False)
        second = _make()
    assert again.added == 0  # every text was in the file
    for a, b in zip(first, second):
        assert _methods(a) == _methods(b)
    assert second[0](1) == second[0](1, 1.5)


def test_a_damaged_file_is_ignored_and_rewritten(tmp_path, monkeypatch):
    path = tmp_path / _FILE_NAME
    path.write_bytes(b"\x00not marshal at all")
    cache = MethodCache(path)
    assert cache.codes == {}
    monkeypatch.setattr(dataclasses, "exec", cache.run, raising=False)
    Point, _ = _make()
    assert Point(1).y == 1.5
    cache.save()
    assert len(MethodCache(path).codes) == cache.added > 0


def test_other_exec_calls_pass_through(cached):
    ns: dict = {}
    cached.run(compile("z = 6 * 7", "<t>", "exec"), {}, ns)
    assert ns == {"z": 42} and cached.added == 0


def test_the_entry_point_raises_only_the_gen0_threshold(tmp_path):
    code = ("import gc, json, sys\nimport sloplan.command as c\nbefore = gc.get_threshold()\n"
            "sys.argv = ['sloplan', '--version']\ntry:\n    c.main()\nexcept SystemExit:\n    pass\n"
            "print(json.dumps([before, gc.get_threshold()]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**os.environ, "SLOPLAN_CACHE_DIR": str(tmp_path)})
    before, after = json.loads(done.stdout.strip().splitlines()[-1])
    assert after == [max(10_000, before[0]), before[1], before[2]]
    assert (tmp_path / _FILE_NAME).is_file()  # the dataclasses made on the way were written back


def test_a_file_past_its_cap_restarts_from_this_processs_codes(tmp_path, monkeypatch):
    import sloplan.method_cache as mc

    path = tmp_path / _FILE_NAME
    cache = MethodCache(path)
    monkeypatch.setattr(dataclasses, "exec", cache.run, raising=False)
    _make()
    other = MethodCache(path)  # another process, saving first
    other.codes = {bytes([i]) * 32: compile(f"x = {i}", "<string>", "exec") for i in range(5)}
    other.added = 5
    other.save()
    cache.save()  # under the cap: merged
    assert MethodCache(path).codes.keys() == other.codes.keys() | cache.codes.keys()
    other.save()
    monkeypatch.setattr(mc, "_MAX_CODES", cache.added + 2)
    cache.added += 1  # something new to write
    cache.save()  # past the cap: only this process's codes
    assert MethodCache(path).codes.keys() == cache.codes.keys()
