"""The public names of `import sloplan` stay what the README shows, however often they are used."""
import subprocess
import sys


def test_public_names_stay_callables_after_their_modules_are_imported():
    # a fresh interpreter: the bug this guards against (a submodule named like a function replacing
    # it on the package after the first call) only shows on the second access
    code = ("import sloplan, sloplan.cli\n"
            "for _ in range(2):\n"
            "    assert callable(sloplan.estimate) and callable(sloplan.solve), (sloplan.estimate, sloplan.solve)\n"
            "e = sloplan.estimate('Qwen/Qwen3-32B', 'h100_sxm', 'vllm', tp=2, concurrency=16, isl=4096, osl=512)\n"
            "assert isinstance(e, sloplan.Estimate) and e.tpot_ms > 0\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
