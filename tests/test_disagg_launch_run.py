"""Disaggregated launch bundles as text: it runs in a shell (stub servers record each process), one line
per worker type, GPUs of their own where a system's workers fit one node, and every name from the data."""
import ast

import pytest
import yaml

from disagg_helpers import (DENSE, FOLDER, ROOT, bundle, context, env_of, expected_starts, run_stubbed,
                            worker)
from sloplan.core.enums import Backend, Role
from sloplan.generators.disagg_launch import disagg_launch
from sloplan.model.framework import FrameworkDataError, load_framework


@pytest.mark.parametrize("backend", list(Backend))
def test_the_text_runs_and_starts_each_worker_with_its_own_ports(backend, tmp_path):
    """Stub servers on PATH record their arguments: every worker and the router start, each worker with
    the ports worker_command(i) names, and the option files the lines write parse."""
    b = bundle(DENSE, backend, "tp2pp1 fp8_block", "tp1pp1 fp8_block", p=(2, 3), d=(32, 2))
    assert run_stubbed(b, tmp_path) == expected_starts(b)
    if backend is Backend.TRTLLM:
        for f in ("prefill.yaml", "decode.yaml", "disagg_config.yaml"):
            assert yaml.safe_load((tmp_path / f).read_text())


def test_workers_that_fit_one_node_get_gpus_of_their_own():
    """2 x TP2 prefill + 3 x TP1 decode = 7 of 8 GPUs: packed from GPU 0, prefill first; 9 GPUs: the last
    worker on a second node (tests/test_launch_multinode_disagg.py)."""
    b = bundle(DENSE, Backend.SGLANG, "tp2pp1 fp8_block", "tp1pp1 fp8_block", p=(4, 2), d=(48, 3))
    gpus = [env_of(s.worker_command(i))["CUDA_VISIBLE_DEVICES"] for s in b.steps[:2] for i in range(s.count)]
    assert gpus == ["0,1", "2,3", "4", "5", "6"]
    assert "CUDA_VISIBLE_DEVICES=$(seq -s, $((0+2*i)) $((1+2*i)))" in b.step(Role.PREFILL).line()
    assert "one node per system as written" in b.text()
    b = bundle(DENSE, Backend.SGLANG, "tp2pp1 fp8_block", "tp1pp1 fp8_block", p=(4, 3), d=(48, 3))
    gpus = [(s.nodes[i], env_of(s.worker_command(i))["CUDA_VISIBLE_DEVICES"])
            for s in b.steps[:2] for i in range(s.count)]
    assert gpus == [((0,), "0,1"), ((0,), "2,3"), ((0,), "4,5"), ((0,), "6"), ((0,), "7"), ((1,), "0")]  # a 2nd node
    assert "2 nodes: run node k's lines on node k" in b.text()


def test_pools_on_two_systems_are_placed_each_on_its_own_node():
    ctx, _ = context(DENSE, Backend.VLLM, "h100_sxm")
    p = worker(DENSE, Backend.VLLM, "tp2pp1 fp8_block", Role.PREFILL, 2, 3, system="h100_sxm")
    d = worker(DENSE, Backend.VLLM, "tp1pp1 fp8_block", Role.DECODE, 32, 4)
    b = disagg_launch(Backend.VLLM, ctx.arch, ctx.fw, ctx.workload, p, d)
    assert b.step(Role.PREFILL).devices == (0, 2, 4) and b.step(Role.DECODE).devices == (0, 1, 2, 3)


def test_text_shows_one_line_per_worker_type_with_its_count():
    b = bundle(DENSE, Backend.VLLM, "tp2pp1 fp8_block", "tp1pp1 fp8_block", p=(2, 3), d=(32, 1))
    lines = b.text().splitlines()
    assert sum(1 for ln in lines if "vllm serve" in ln) == 2 and lines[-1].startswith("vllm-router ")
    assert "# prefill × 3 on h200_sxm" in b.text() and "# decode × 1 on h200_sxm" in b.text()
    assert "for i in $(seq 0 2); do " in b.text()
    assert [len(s["commands"]) for s in b.to_dict()["steps"]] == [3, 1, 1]


# --------------------------------------------------------------------------- names are data
def test_disagg_launch_py_holds_no_flag_or_command_name():
    tree = ast.parse((ROOT / "generators" / "disagg_launch.py").read_text())
    literals = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    names = {"vllm", "vllm-router", "trtllm-serve", "python3", "NIXL", "NixlConnector", "mooncake", "localhost"}
    assert not [s for s in literals if s.startswith("-") or s in names]


RENAMED = [(Backend.VLLM, "--kv-transfer-config"), (Backend.VLLM, "--vllm-pd-disaggregation"),
           (Backend.SGLANG, "--disaggregation-mode"), (Backend.SGLANG, "--pd-disaggregation"),
           (Backend.TRTLLM, "disaggregated"), (Backend.TRTLLM, "cache_transceiver_config")]


@pytest.mark.parametrize("backend, old", RENAMED)
def test_renaming_a_name_in_the_data_renames_it_in_the_bundle(tmp_path, backend, old):
    text = (FOLDER / f"{backend.value}.yaml").read_text()
    head, tail = text.split("\ndisaggregation:", 1)
    path = tmp_path / f"{backend.value}.yaml"
    path.write_text(head + "\ndisaggregation:" + tail.replace(old, old + "-renamed"))
    text = bundle(DENSE, backend, "tp2pp1 fp8_block", "tp1pp1 fp8_block", spec=load_framework(path)).text()
    out = "\n".join(ln for ln in text.splitlines() if not ln.startswith("#"))  # commands, not the comments
    assert old + "-renamed" in out and old not in out.replace(old + "-renamed", "")


@pytest.mark.parametrize("old, new, message", [
    ("transfer_backend: NixlConnector", "transfer_backend: Nixl", "transfer_backend: 'Nixl' is not one of"),
    ("http://${host}:${port}\"]   # once per prefill", "http://${hots}:${port}\"]  #", "names hots; accepted"),
    ("    options: {}\n  decode:", "    options: {a: b}\n  decode:", "prefill.options: launch has no options_file"),
    ("first_aux_port: 5600", "first_aux_port: null", "names aux_port; accepted"),
])
def test_the_disaggregation_section_is_checked_when_read(tmp_path, old, new, message):
    text = (FOLDER / "vllm.yaml").read_text()
    assert old in text
    path = tmp_path / "vllm.yaml"
    path.write_text(text.replace(old, new))
    with pytest.raises(FrameworkDataError, match=message):
        load_framework(path)
