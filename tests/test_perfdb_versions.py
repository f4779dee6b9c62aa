"""Version ordering (PEP 440-like) without any data access."""
from sloplan.perfdb.versions import pick_nearest, sort_versions


def test_ordering():
    assert sort_versions(["1.3.0", "1.3.0rc20", "1.3.0rc5"]) == ["1.3.0rc5", "1.3.0rc20", "1.3.0"]
    assert sort_versions(["0.5.10", "0.5.6.post2", "0.5.6"]) == ["0.5.6", "0.5.6.post2", "0.5.10"]
    assert sort_versions(["2.29.2", "2.27", "2.27.3"]) == ["2.27", "2.27.3", "2.29.2"]


def test_pick_nearest():
    vs = ["1.2.0rc5", "1.3.0rc10", "1.3.0rc20"]
    assert pick_nearest(vs, "1.3.0rc15") == "1.3.0rc10"
    assert pick_nearest(vs, "1.0.0") == "1.2.0rc5"
    assert pick_nearest(vs, "9") == "1.3.0rc20"
