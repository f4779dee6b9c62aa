"""The perf-table disk cache is disposable: a damaged file is rebuilt with one warning, an unwritable folder
is said once, and every cache file is whole or absent after any interruption (a process killed with SIGKILL)."""
from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from sloplan.perfdb import cache, load_perfdb
from sloplan.perfdb.cache import CacheWarning
from sloplan.perfdb.loader import clear_memo

ROOT = Path(__file__).resolve().parents[1]
INSTANCE = ROOT / "instances" / "qwen3-32b-fp8-h200-trtllm.yaml"
M = np.array([1, 7, 128, 3000])


def _answers():
    """One query per kind of cache file: main (.npz), dense side file, lazily read family, MoE side file."""
    db = load_perfdb("h200_sxm", "trtllm", "1.3.0rc20")
    lks = [db.gemm(M, 4096, 4096, "fp8"), db.context_mla(M, M, 0, 16, "bf16"),
           db.moe(M, 4096, 1536, 8, 128, 1, 8, "fp8_block")]
    return [np.concatenate([lk.latency_s, lk.tier.astype(float)]) for lk in lks]


def _side(root: Path, name: str) -> Path:
    main = next(root.glob("perfdb-h200_sxm-trtllm-*.npz"))
    return main if name == "main" else main.with_suffix("") / name


@pytest.fixture(scope="module")
def good_cache(tmp_path_factory):
    """A complete cache for h200_sxm trtllm (main file + the side files `_answers` reads) and its answers."""
    root = tmp_path_factory.mktemp("good-cache")
    mp = pytest.MonkeyPatch()
    mp.setenv("SLOPLAN_CACHE_DIR", str(root))
    mp.delenv("SLOPLAN_PERFDB", raising=False)
    clear_memo()
    ref = _answers()
    clear_memo()
    mp.undo()
    return root, ref


def _flip_middle_byte(data: bytes) -> bytes:
    b = bytearray(data)
    b[len(b) // 2] ^= 0xFF
    return bytes(b)


def _npy_not_npz(_: bytes) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.arange(5))
    return buf.getvalue()


def _foreign_npz(_: bytes) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, something_else=np.arange(5))
    return buf.getvalue()


DAMAGE = {"zero bytes": lambda data: b"", "truncated": lambda data: data[: len(data) // 2],
          "bit flip": _flip_middle_byte, "text": lambda data: b"not a cache file\n",
          "npy, not npz": _npy_not_npz, "foreign npz": _foreign_npz}
FILES = ["main", "gemm_fp8.npz", "family_mla.npz", "family_moe.npz"]


def _run_on_cache(monkeypatch, cache_dir, run):
    """`run()` on a fresh process state over `cache_dir`: its result and the CacheWarnings it raised."""
    monkeypatch.setenv("SLOPLAN_CACHE_DIR", str(cache_dir))
    monkeypatch.delenv("SLOPLAN_PERFDB", raising=False)
    clear_memo()
    try:
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            got = run()
    finally:
        clear_memo()
    return got, [str(w.message) for w in rec if issubclass(w.category, CacheWarning)]


@pytest.mark.parametrize("damage", list(DAMAGE))
@pytest.mark.parametrize("which", FILES)
def test_damaged_file_is_rebuilt_with_one_warning(good_cache, tmp_path, monkeypatch, which, damage):
    root, ref = good_cache
    work = tmp_path / "cache"
    shutil.copytree(root, work)
    path = _side(work, which)
    path.write_bytes(DAMAGE[damage](path.read_bytes()))
    got, said = _run_on_cache(monkeypatch, work, _answers)
    assert len(said) == 1 and str(path) in said[0] and "rebuilt" in said[0] and "\n" not in said[0], said
    for a, b in zip(got, ref):
        np.testing.assert_array_equal(a, b)
    with np.load(path, allow_pickle=False) as npz:  # rewritten whole
        assert all(npz[k] is not None for k in npz.files) and npz.files


@pytest.mark.parametrize("where", ["a regular file", "below a regular file"])
def test_unwritable_cache_dir_is_said_once_and_the_run_goes_on(good_cache, tmp_path, monkeypatch, where):
    _, ref = good_cache
    (tmp_path / "f").write_text("")
    target = tmp_path / "f" if where == "a regular file" else tmp_path / "f" / "cache"
    def answers_and_another_system():
        got = _answers()  # many writes: main, dense grids, two side files
        load_perfdb("h100_sxm", "vllm").gemm(M, 4096, 4096, "fp8")  # another system, more writes
        return got

    got, said = _run_on_cache(monkeypatch, target, answers_and_another_system)
    assert len(said) == 1 and str(target) in said[0] and "cold start" in said[0], said
    for a, b in zip(got, ref):
        np.testing.assert_array_equal(a, b)
    assert target.is_file() or not target.exists()


def test_stale_tmp_files_are_swept_by_the_next_writer(tmp_path):
    old, fresh = tmp_path / ".x.npz.abc.tmp", tmp_path / ".y.npz.def.tmp"
    for p in (old, fresh):
        p.write_bytes(b"partial")
    two_hours_ago = time.time() - 2 * cache.STALE_TMP_S
    os.utime(old, (two_hours_ago, two_hours_ago))
    cache.save_dense(tmp_path / "z.npz", np.zeros(3), np.zeros(3, dtype=np.int8))
    assert not old.exists() and fresh.exists()  # a live writer's temp file is left alone
    assert cache.load_dense(tmp_path / "z.npz", (3,))[0].shape == (3,)


# --------------------------------------------------------------------------- through the CLI, killed processes
def _env(cache_dir: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "SLOPLAN_PERFDB"}
    env["SLOPLAN_CACHE_DIR"] = str(cache_dir)
    return env


SOLVE = [sys.executable, "-m", "sloplan", "solve", str(INSTANCE), "--json"]


def _solve(cache_dir: Path):
    r = subprocess.run(SOLVE, capture_output=True, text=True, env=_env(cache_dir), timeout=300)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    doc.pop("timings_s", None)
    return doc, [ln for ln in r.stderr.splitlines() if ln.strip()]


@pytest.fixture(scope="module")
def reference_solve(tmp_path_factory):
    root = tmp_path_factory.mktemp("ref-cache")
    doc, err = _solve(root)
    assert err == []
    return doc, root


def _all_npz_whole(cache_dir: Path) -> int:
    """Every .npz under the cache dir loads completely (zip CRCs checked); returns how many there are."""
    files = sorted(cache_dir.rglob("*.npz"))
    for f in files:
        with np.load(f, allow_pickle=False) as npz:
            for k in npz.files:
                npz[k]
    return len(files)


def test_damaged_cache_through_the_cli_is_one_warning_line_and_the_same_plan(reference_solve, tmp_path):
    reference, root = reference_solve
    work = tmp_path / "cache"
    shutil.copytree(root, work)
    main = next(work.glob("perfdb-h200_sxm-trtllm-*.npz"))
    main.write_bytes(b"")  # was `internal error: Abort:` (click's name for the EOFError np.load raises)
    doc, err = _solve(work)
    assert doc == reference
    assert len(err) == 1 and err[0].startswith("warning: ") and str(main) in err[0] and "rebuilt" in err[0], err
    assert _solve(work) == (reference, [])  # rebuilt: the next run is quiet


def test_killed_cold_runs_leave_only_whole_files(reference_solve, tmp_path):
    """SIGKILL a cold `sloplan solve` at several points of the cache build (before any file, after the k-th
    file appears), on one cache folder; every .npz left loads, and the next run gives the same plan."""
    work = tmp_path / "cache"
    for files_before_kill in (0, 1, 3):
        start = time.monotonic()
        proc = subprocess.Popen(SOLVE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env(work))

        def kill_now(files_before_kill=files_before_kill, start=start) -> bool:
            if files_before_kill == 0:  # half a second in: reading Parquet, nothing written yet
                return time.monotonic() - start > 0.5
            return len(list(work.rglob("*.npz"))) >= files_before_kill
        while proc.poll() is None and time.monotonic() - start < 120 and not kill_now():
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait() == -signal.SIGKILL  # killed during the build, not after it
        _all_npz_whole(work)
    assert _solve(work)[0] == reference_solve[0]
    assert _all_npz_whole(work) > 0


KILLED_MID_WRITE = textwrap.dedent("""
    import io, pathlib, sys, time
    import numpy as np
    from sloplan.perfdb import cache, load_perfdb
    real = np.savez
    def half_then_hang(fh, **arrays):  # the writer dies with half its bytes on disk
        buf = io.BytesIO(); real(buf, **arrays); data = buf.getvalue()
        fh.write(data[: len(data) // 2]); fh.flush()
        pathlib.Path(sys.argv[1]).touch(); time.sleep(300)
    cache.np.savez = half_then_hang
    load_perfdb("h200_sxm", "trtllm")
""")


def test_writer_killed_mid_write_leaves_no_partial_npz_and_its_tmp_is_swept(reference_solve, tmp_path):
    work, marker = tmp_path / "cache", tmp_path / "writing"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_MID_WRITE, str(marker)], env=_env(work),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert marker.exists()
    tmps = list(work.glob("*.tmp"))
    assert len(tmps) == 1 and _all_npz_whole(work) == 0  # half a file, under a name no reader opens
    long_ago = time.time() - 2 * cache.STALE_TMP_S
    os.utime(tmps[0], (long_ago, long_ago))
    doc, err = _solve(work)
    assert doc == reference_solve[0] and err == []
    assert not tmps[0].exists() and _all_npz_whole(work) > 0
