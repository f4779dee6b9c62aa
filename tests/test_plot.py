"""--plot writes a PNG of the front."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_plot_writes_a_png(tmp_path):
    out = tmp_path / "front.png"
    r = subprocess.run([sys.executable, "-m", "sloplan", "solve", str(ROOT / "instances/qwen3-32b-fp8-h200-trtllm.yaml"),
                        "--plot", str(out), "--json"], capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
