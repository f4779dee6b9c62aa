"""perfdb/yaml_cache.py: a shipped YAML file's parsed value from the parse cache equals parsing it, an edited
file is parsed again, a damaged cache file is reparsed and rewritten, and a value JSON cannot give back
equal is never cached."""
from __future__ import annotations

import json

import pytest

from sloplan.perfdb.catalog import load_yaml
from sloplan.perfdb.yaml_cache import load_yaml_file


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("SLOPLAN_CACHE_DIR", str(folder))
    return folder / "yaml"


def test_the_model_catalog_reads_back_equal_from_the_cache(cache_dir):
    from sloplan.model.catalog import _CATALOG

    want = load_yaml(_CATALOG.read_text())
    first = load_yaml_file(_CATALOG)
    (written,) = cache_dir.iterdir()
    assert first == want and json.loads(written.read_text()) == want
    second = load_yaml_file(_CATALOG)
    assert second == want and list(second) == list(want)  # entry order kept (catalog resolution order)


def test_an_edited_file_is_parsed_again(cache_dir, tmp_path):
    f = tmp_path / "t.yaml"
    f.write_text("a: 1\nb: [x, 2.5]\n")
    assert load_yaml_file(f) == {"a": 1, "b": ["x", 2.5]}
    f.write_text("a: 2\n")
    assert load_yaml_file(f) == {"a": 2}
    assert len(list(cache_dir.iterdir())) == 2


def test_a_damaged_cache_file_is_reparsed_and_rewritten(cache_dir, tmp_path):
    f = tmp_path / "t.yaml"
    f.write_text("a: {b: true, c: null}\n")
    load_yaml_file(f)
    (written,) = cache_dir.iterdir()
    written.write_bytes(b'{"a": {"b": tr')  # truncated
    assert load_yaml_file(f) == {"a": {"b": True, "c": None}}
    assert json.loads(written.read_text()) == {"a": {"b": True, "c": None}}


@pytest.mark.parametrize("text", ["1: one\n", "when: 2024-01-02\n", "x: .nan\n"])
def test_values_json_does_not_keep_are_parsed_every_time(cache_dir, tmp_path, text):
    f = tmp_path / "t.yaml"
    f.write_text(text)
    want = load_yaml(text)
    got = load_yaml_file(f)
    assert repr(got) == repr(want) and not (cache_dir.exists() and any(cache_dir.iterdir()))
