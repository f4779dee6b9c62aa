"""Output targets (sloplan/outfile.py): only new paths and regular files are written, whole or not at all.

One class of problem, "the target is not ours to replace or cannot be written", parametrized over its
kinds, through the CLI (exit 2, one stderr line naming --out, nothing created, the target untouched);
and one class, "the write is interrupted", over the ways a write can stop.
"""
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sloplan.errors import InputError
from sloplan.outfile import atomic_write, check_target

ROOT = Path(__file__).resolve().parents[1]
ROW = "id,backend,model_path,system,isl,osl,batch_size,tp_size\nx,vllm,Qwen/Qwen3-32B,h100_sxm,1024,512,8,2\n"


def _dir(tmp: Path) -> Path:
    (tmp / "target").mkdir()
    return tmp / "target"


def _fifo(tmp: Path) -> Path:
    os.mkfifo(tmp / "target")
    return tmp / "target"


def _symlink(tmp: Path) -> Path:
    (tmp / "elsewhere.csv").write_text("keep me\n")
    (tmp / "target").symlink_to(tmp / "elsewhere.csv")
    return tmp / "target"


def _dangling(tmp: Path) -> Path:
    (tmp / "target").symlink_to(tmp / "missing.csv")
    return tmp / "target"


def _socket(tmp: Path) -> Path:
    import socket

    s = socket.socket(socket.AF_UNIX)
    s.bind(str(tmp / "target"))
    s.close()
    return tmp / "target"


REFUSED = {  # what is at the target → (the target, words the one line carries)
    "directory": (_dir, "is a directory"),
    "fifo": (_fifo, "is a FIFO"),
    "device": (lambda tmp: Path("/dev/null"), "is a character device"),
    "symlink": (_symlink, "symbolic link"),
    "dangling symlink": (_dangling, "symbolic link"),
    "socket": (_socket, "is a socket"),
    "missing directory": (lambda tmp: tmp / "nowhere" / "pred.csv", "directory does not exist"),
    "parent is a file": (lambda tmp: tmp / "in.csv" / "pred.csv", "cannot be used"),
    "read-only place (/proc)": (lambda tmp: Path("/proc/sloplan-pred.csv"), "cannot be written"),
    "read-only place (/sys)": (lambda tmp: Path("/sys/sloplan-pred.csv"), "cannot be written"),
    "a /proc file": (lambda tmp: Path("/proc/self/comm"), "cannot be written"),
}


def _snapshot(path: Path):
    """What a refused write must leave as it was: the kind, the inode and the link target."""
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    link = os.readlink(path) if os.path.islink(path) else None
    return st.st_mode, st.st_ino, link


def run_cli(monkeypatch, capsys, *args):
    """`sloplan ARGS` in this process (through cli.main, so the exit code and stderr are the real ones)."""
    from sloplan import cli

    monkeypatch.setattr(sys, "argv", ["sloplan", *map(str, args)])
    with pytest.raises(SystemExit) as done:
        cli.main()
    out, err = capsys.readouterr()
    return done.value.code, out, err


@pytest.mark.parametrize("kind", REFUSED)
def test_targets_that_are_not_new_paths_or_regular_files_are_refused_untouched(tmp_path, kind, monkeypatch, capsys):
    make, words = REFUSED[kind]
    (tmp_path / "in.csv").write_text(ROW)
    target = make(tmp_path)
    before, listing = _snapshot(target), sorted(os.listdir(tmp_path))
    code, out, err = run_cli(monkeypatch, capsys, "estimate", "--from-csv", tmp_path / "in.csv", "--out", target)
    assert code == 2, err
    assert err.startswith("error: out: ") and err.count("\n") == 1 and words in err and "accepted:" in err
    assert _snapshot(target) == before
    assert sorted(os.listdir(tmp_path)) == listing  # no temp file, nothing new
    if kind == "symlink":
        assert (tmp_path / "elsewhere.csv").read_text() == "keep me\n"


@pytest.mark.parametrize("existing", [False, True], ids=["new file", "existing regular file"])
def test_new_paths_and_regular_files_are_written_whole_and_nothing_else(tmp_path, existing, monkeypatch, capsys):
    (tmp_path / "in.csv").write_text(ROW)
    target = tmp_path / "pred.csv"
    if existing:
        target.write_text("old\n")
        target.chmod(0o640)
    code, out, err = run_cli(monkeypatch, capsys, "estimate", "--from-csv", tmp_path / "in.csv", "--out", target)
    assert code == 0, err
    assert target.read_text().splitlines()[0].endswith("pred_ttft_ms,pred_tpot_ms,data_version,error")
    assert sorted(os.listdir(tmp_path)) == ["in.csv", "pred.csv"]
    assert (target.stat().st_mode & 0o777) == (0o640 if existing else 0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_bad_target_fails_before_any_work(tmp_path, monkeypatch):
    """The target is checked before the rows are read: the estimator is never called."""
    from sloplan import estimate_rows

    (tmp_path / "in.csv").write_text(ROW)
    monkeypatch.setattr(estimate_rows, "read_rows", lambda src: pytest.fail("rows read before --out was checked"))
    with pytest.raises(InputError, match="^out: .* is a directory"):
        estimate_rows.estimate_csv(tmp_path / "in.csv", tmp_path)


class Boom(Exception):
    pass


def _raise(exc):
    def write(fh):
        fh.write("half of a file")
        raise exc
    return write


@pytest.mark.parametrize("exc, expected", [(KeyboardInterrupt(), KeyboardInterrupt), (Boom(), Boom),
                                           (OSError(28, "No space left on device"), InputError)],
                         ids=["ctrl-c", "a bug in the writer", "disk full"])
@pytest.mark.parametrize("existing", [False, True], ids=["new", "existing"])
def test_an_interrupted_write_leaves_the_old_target_and_no_temp(tmp_path, exc, expected, existing):
    target = tmp_path / "out.csv"
    if existing:
        target.write_text("old\n")
    with pytest.raises(expected) as raised:
        atomic_write("out", target, _raise(exc))
    if expected is InputError:
        assert str(raised.value).startswith("out: ") and "No space left on device" in str(raised.value)
    assert os.listdir(tmp_path) == (["out.csv"] if existing else [])
    if existing:
        assert target.read_text() == "old\n"


KILLED = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from sloplan.outfile import atomic_write

    def write(fh):
        fh.write("new, half written")
        fh.flush()
        print("writing", flush=True)
        time.sleep(60)
    atomic_write("out", Path(sys.argv[1]), write)
""")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_a_killed_writer_leaves_the_target_whole(tmp_path, sig):
    """Killed mid-write, the target keeps its old content; a SIGTERM also removes the temp file (a
    SIGKILL cannot be caught: its hidden temp may stay, but never under the target's name)."""
    work = tmp_path / "work"
    work.mkdir()
    target = work / "out.csv"
    target.write_text("old\n")
    child = subprocess.Popen([sys.executable, "-c", KILLED, str(target)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert child.stdout.readline() == "writing\n"
        child.send_signal(sig)
        assert child.wait(timeout=30) != 0
    finally:
        child.kill()
        child.wait()
    assert target.read_text() == "old\n"
    left = sorted(os.listdir(work))
    if sig == signal.SIGTERM:
        assert left == ["out.csv"]
    else:
        assert all(name == "out.csv" or name.startswith(".out.csv.") for name in left)


def test_check_target_returns_the_path_and_leaves_no_probe(tmp_path):
    assert check_target("plot", tmp_path / "front.png") == tmp_path / "front.png"
    assert os.listdir(tmp_path) == []
    with pytest.raises(InputError, match="^plot: "):
        check_target("plot", tmp_path)
