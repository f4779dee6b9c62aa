"""`sloplan collect` refuses clearly (no torch / no CUDA / no GPU / bad options) and torch stays lazy."""
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from sloplan.perfdb.collector import TORCH_MISSING, CollectorUnavailable, probe
from sloplan.perfdb.collector import timing

ROOT = Path(__file__).resolve().parents[1]

NO_GPU = "class cuda:\n    is_available = staticmethod(lambda: False)\n    device_count = staticmethod(lambda: 0)\n"
ONE_GPU = "class cuda:\n    is_available = staticmethod(lambda: True)\n    device_count = staticmethod(lambda: 1)\n"
FAKE_TORCH = {
    "missing": "raise ImportError('No module named torch')\n",
    "cpu": "__version__ = '2.5.1+cpu'\nclass version:\n    cuda = None\n    hip = None\n" + NO_GPU,
    "nogpu": "__version__ = '2.5.1+cu124'\nclass version:\n    cuda = '12.4'\n    hip = None\n" + NO_GPU,
    "rocm": "__version__ = '2.5.1+rocm6.2'\nclass version:\n    cuda = None\n    hip = '6.2'\n" + ONE_GPU,
    "tripwire": "raise RuntimeError('torch was imported')\n",
}


def run_with_torch(tmp_path, kind, *args):
    """Run `python -m sloplan ARGS` with a stand-in `torch` package first on the path."""
    pkg = tmp_path / kind / "torch"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(FAKE_TORCH[kind])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / kind), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "sloplan", *args], capture_output=True, text=True, cwd=tmp_path,
                          env=env, timeout=120)


def assert_one_line_refusal(r, *words):
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr + r.stdout and r.stdout == ""
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, lines
    for w in words:
        assert w in lines[0], lines
    return lines[0]


def test_no_torch_refuses_with_the_install_line(tmp_path):
    r = run_with_torch(tmp_path, "missing", "collect", "--system-name", "x", "--ops", "gemm", "--out", tmp_path)
    line = assert_one_line_refusal(r)
    assert line == f"collect: {TORCH_MISSING}"
    assert line == "collect: PyTorch is not installed; accepted: pip install torch (a CUDA build)"
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("kind, words", [("cpu", ("no CUDA support", "2.5.1+cpu")),
                                         ("nogpu", ("no NVIDIA GPU", "CUDA_VISIBLE_DEVICES")),
                                         ("rocm", ("ROCm", "NVIDIA"))])
def test_torch_without_a_usable_nvidia_gpu_refuses(tmp_path, kind, words):
    r = run_with_torch(tmp_path, kind, "collect", "--system-name", "x", "--quick")
    assert_one_line_refusal(r, "collect: ", *words)


@pytest.mark.parametrize("args, field", [(("--ops", "gemm,conv"), "ops"), (("--dtypes", "int4"), "dtypes"),
                                         (("--ops", ""), "ops"), (("--system-name", "../etc"), "system-name")])
def test_bad_options_name_the_field(tmp_path, args, field):
    base = {"--system-name": "x", "--ops": "gemm"}
    base.update(dict(zip(args[::2], args[1::2])))
    flat = [str(v) for kv in base.items() for v in kv]
    r = run_with_torch(tmp_path, "tripwire", "collect", *flat)              # validated before torch is touched
    assert_one_line_refusal(r, field, "accepted" if field != "system-name" else "letters")


@pytest.mark.parametrize("args", [("--help",), ("collect", "--help"), ("systems",)])
def test_cli_never_imports_torch_outside_a_collection(tmp_path, args):
    r = run_with_torch(tmp_path, "tripwire", *args)
    assert r.returncode == 0, r.stderr
    assert "torch was imported" not in r.stderr + r.stdout


def test_importing_the_cli_and_collector_loads_no_torch():
    code = ("import sys, sloplan.cli, sloplan.cli_collect, sloplan.perfdb.collector; "
            "sys.exit(1 if 'torch' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


def fake_torch(cuda=None, hip=None, available=False, count=0):
    return types.SimpleNamespace(__version__="9.9.9", version=types.SimpleNamespace(cuda=cuda, hip=hip),
                                 cuda=types.SimpleNamespace(is_available=lambda: available, device_count=lambda: count))


def test_probe_refusals_by_monkeypatching(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)                          # import torch → ImportError
    with pytest.raises(CollectorUnavailable, match="PyTorch is not installed"):
        probe.open_device()
    monkeypatch.setitem(sys.modules, "torch", fake_torch())
    with pytest.raises(CollectorUnavailable, match="no CUDA support"):
        probe.open_device()
    monkeypatch.setitem(sys.modules, "torch", fake_torch(cuda="12.4"))
    with pytest.raises(CollectorUnavailable, match="no NVIDIA GPU"):
        probe.open_device()
    probe.require_cuda(fake_torch(cuda="12.4", available=True, count=1))    # a usable machine passes


def test_nccl_version_spellings():
    assert probe.nccl_version_string((2, 21, 5)) == "2.21.5"
    assert probe.nccl_version_string(22105) == "2.21.5"
    assert probe.nccl_version_string(2708) == "2.7.8"


class _FakeClockTorch:
    """Just enough of torch.cuda for measure_s: events read a clock that each kernel call advances."""

    def __init__(self, call_ms):
        self.now, self.call_ms = 0.0, call_ms
        outer = self

        class Event:
            def __init__(self, enable_timing=True):
                self.t = None

            def record(self):
                self.t = outer.now

            def elapsed_time(self, end):
                return end.t - self.t

        def no_graphs():
            raise RuntimeError("graphs unavailable")

        self.cuda = types.SimpleNamespace(Event=Event, synchronize=lambda: None, Stream=no_graphs)

    def kernel(self):
        self.now += self.call_ms


def test_measure_returns_the_median_in_seconds_and_falls_back_to_eager(monkeypatch):
    clock = _FakeClockTorch(call_ms=0.004)                                   # 4 µs: the graph path is tried
    monkeypatch.setitem(sys.modules, "torch", clock)
    assert timing.measure_s(clock.kernel, timing.TimingConfig()) == pytest.approx(4e-6)
    slow = _FakeClockTorch(call_ms=50.0)
    monkeypatch.setitem(sys.modules, "torch", slow)
    assert timing.measure_s(slow.kernel, timing.QUICK_TIMING) == pytest.approx(0.05)
