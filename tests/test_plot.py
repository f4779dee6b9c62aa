"""--plot: checked before the solve (a bad target costs one line, not the run), written whole or not at all,
and it says where the image went; an empty front gives no image, with a line saying why."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from sloplan.errors import InputError
from sloplan.plot import atomic_write, check_plot_target, image_formats

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "instances" / "qwen3-32b-fp8-h200-trtllm.yaml"
INFEASIBLE = ROOT / "instances" / "regression" / "qwen3-32b-h200-unreachable-tpot.yaml"
MAGIC = {"png": b"\x89PNG\r\n\x1a\n", "svg": b"<?xml", "pdf": b"%PDF"}


def run(*args, cwd):
    return subprocess.run([sys.executable, "-m", "sloplan", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=180)


def snapshot(folder: Path) -> dict:
    """Every entry under the folder with its kind and content: 'nothing written' means this is unchanged."""
    out = {}
    for p in sorted(folder.rglob("*")):
        st = os.lstat(p)
        out[str(p.relative_to(folder))] = (st.st_mode, p.read_bytes() if p.is_file() and not p.is_symlink() else None)
    return out


def _make(tmp: Path, kind: str) -> str:
    """A target of one kind inside tmp; returns the --plot argument (relative to tmp, the working folder)."""
    (tmp / "old.png").write_bytes(b"old")
    if kind == "directory":
        (tmp / "d.png").mkdir()
        return "d.png"
    if kind == "fifo":
        os.mkfifo(tmp / "f.png")
        return "f.png"
    if kind == "symlink to a file":
        (tmp / "l.png").symlink_to(tmp / "old.png")
        return "l.png"
    if kind == "dangling symlink":
        (tmp / "l.png").symlink_to(tmp / "nowhere.png")
        return "l.png"
    return {"missing folder": "no/such/front.png", "unknown extension": "front.xyz", "no extension": "front",
            "empty path": "", "file as a folder": "old.png/front.png", "device": os.devnull,
            "unwritable place": "/proc/sloplan-front.png", "name too long": "x" * 300 + ".png"}[kind]


BAD = ["directory", "fifo", "symlink to a file", "dangling symlink", "missing folder", "unknown extension",
       "no extension", "empty path", "file as a folder", "device", "unwritable place", "name too long"]


@pytest.mark.parametrize("kind", BAD)
def test_a_bad_plot_target_is_refused_before_the_solve(tmp_path, kind):
    target = _make(tmp_path, kind)
    before = snapshot(tmp_path)
    r = run("solve", EXAMPLE, "--plot", target, "--json", cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert r.stdout == ""  # refused up front: no solve was run and nothing printed half-way
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: plot: "), r.stderr
    assert "accepted" in lines[0] or "cannot" in lines[0]
    assert len(lines[0]) < 400  # a 300-character name is echoed truncated
    assert snapshot(tmp_path) == before  # nothing written, nothing replaced, no temp or probe left
    if kind == "device":
        assert Path(os.devnull).is_char_device()


def test_unknown_extension_lists_the_formats_matplotlib_writes(tmp_path):
    with pytest.raises(InputError, match="accepted: ") as err:
        check_plot_target(tmp_path / "front.xyz")
    listed = str(err.value).split("accepted: ")[1].split(", ")
    assert set(listed) == set(image_formats()) and {"png", "pdf", "svg"} <= set(listed)


@pytest.mark.parametrize("name", ["front.png", "front.svg", "FRONT.PDF", "old.png"])
def test_the_plot_is_written_in_the_extensions_format_and_says_where(tmp_path, name):
    (tmp_path / "old.png").write_bytes(b"old")
    r = run("solve", EXAMPLE, "--plot", name, "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.lstrip().startswith("{")  # the solve's output is all there
    assert r.stderr.splitlines() == [f"front plotted → {name}"]
    data = (tmp_path / name).read_bytes()
    assert data.startswith(MAGIC[Path(name).suffix.lower()[1:]]) and len(data) > 10_000
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted({"old.png", name})  # no temp file left


def test_an_empty_front_gives_no_image_and_one_line_saying_why(tmp_path):
    for extra in ((), ("--json",)):
        r = run("solve", INFEASIBLE, "--plot", "front.png", *extra, cwd=tmp_path)
        assert r.returncode == 3, r.stderr
        lines = r.stderr.splitlines()
        assert len(lines) == 1 and "no plot written" in lines[0] and "front is empty" in lines[0]
        assert not extra or r.stdout.lstrip().startswith("{")
    assert list(tmp_path.iterdir()) == []


class Boom(Exception):
    pass


@pytest.mark.parametrize("failure, raised", [(OSError(28, "No space left on device"), InputError),
                                             (Boom("a bug in the writer"), Boom),
                                             (KeyboardInterrupt(), KeyboardInterrupt)])
@pytest.mark.parametrize("existing", [None, b"the old image"])
def test_a_failed_write_leaves_the_old_file_or_nothing_and_no_temp(tmp_path, failure, raised, existing):
    target = tmp_path / "front.png"
    if existing is not None:
        target.write_bytes(existing)

    def writer(fh) -> None:
        fh.write(b"half an ima")
        fh.flush()
        raise failure

    with pytest.raises(raised):
        atomic_write("plot", target, writer, binary=True)
    assert [p.name for p in tmp_path.iterdir()] == ([] if existing is None else ["front.png"])
    if existing is not None:
        assert target.read_bytes() == existing


def test_a_killed_writer_never_leaves_a_half_written_target(tmp_path):
    """SIGKILL cannot be caught: what the kill leaves is the old file, whole (a temp file may stay beside it)."""
    target = tmp_path / "front.png"
    target.write_bytes(b"the old image")
    code = ("import os, signal, sys; from pathlib import Path; from sloplan.plot import atomic_write\n"
            "def w(fh):\n    fh.write(b'half'); fh.flush(); os.kill(os.getpid(), signal.SIGKILL)\n"
            f"atomic_write('plot', Path({str(target)!r}), w, binary=True)\n")
    r = subprocess.run([sys.executable, "-c", code], timeout=60)
    assert r.returncode == -signal.SIGKILL
    assert target.read_bytes() == b"the old image"


def test_a_new_plot_gets_the_umask_mode_not_mkstemps_private_one(tmp_path):
    target = tmp_path / "front.png"
    atomic_write("plot", target, lambda fh: fh.write(b"img"), binary=True)
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask
