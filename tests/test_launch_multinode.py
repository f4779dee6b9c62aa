"""Engines larger than one node (generators/multinode.py): one command per node, node 0 the leader, with
ranks and sizes that add up to the engine, flag names from the framework data, and node addresses that
the shell expands."""
import ast
import json
import shlex
import stat
import subprocess
from pathlib import Path

import pytest

from sloplan.core.enums import Backend
from sloplan.generators import replica_launch
from sloplan.generators.multinode import span
from sloplan.model.catalog import resolve_model
from sloplan.model.engine import Engine
from sloplan.model.framework import FrameworkDataError, framework, load_framework
from sloplan.model.memory import memory_plan
from sloplan.model.quant import Quant
from sloplan.model.workload import Workload
from sloplan.perfdb import load_system

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "model" / "frameworks"
DSV3 = "deepseek-ai/DeepSeek-V3"


def launch(backend, engine_of, system="h200_sxm", model=DSV3, spec=None, max_seqs=64):
    a, sysm = resolve_model(model, estimable=False), load_system(system)
    e = engine_of(Quant.default_for(a.checkpoint_quant))
    fw = framework(backend).profile
    return replica_launch(Backend(backend), a, e, memory_plan(a, e, sysm, fw), fw, Workload(4000, 500, 0), max_seqs,
                          spec=spec, gpus_per_node=sysm.gpus_per_node), e


def argv(cmd):
    return shlex.split(cmd.split(" && ")[-1])


def flags(args):
    return {a: (b if not b.startswith("--") else "") for a, b in zip(args, [*args[1:], ""]) if a.startswith("--")}


def dp16(q):
    return Engine(1, 1, q, dp=16, moe_tp=1, moe_ep=16)


def tp16(q):
    return Engine(16, 1, q, moe_tp=1, moe_ep=16)


def tp8dp2(q):
    return Engine(8, 1, q, dp=2, moe_tp=16, moe_ep=1)


def test_an_engine_that_fits_one_node_keeps_its_single_command():
    r, _ = launch("sglang", lambda q: Engine(1, 1, q, dp=8, moe_tp=1, moe_ep=8))
    assert r.nodes is None and "\n" not in r.text and "--nnodes" not in r.text


@pytest.mark.parametrize("engine_of", [dp16, tp16])
def test_sglang_every_node_runs_the_engine_with_its_rank(engine_of):
    r, e = launch("sglang", engine_of)
    nodes = [flags(argv(n.command)) for n in r.nodes.nodes]
    assert len(nodes) == 2 and [f["--node-rank"] for f in nodes] == ["0", "1"]
    assert {f["--nnodes"] for f in nodes} == {"2"} and {f["--dist-init-addr"] for f in nodes} == {'$NODE0_ADDR:20000'}
    assert all(f["--tp-size"] == str(e.tp * e.dp) for f in nodes)  # --tp-size: every GPU of the engine
    same = [{k: v for k, v in f.items() if k != "--node-rank"} for f in nodes]
    assert same[0] == same[1]


def test_vllm_dp_ranks_over_nodes_add_up_to_the_engine():
    r, e = launch("vllm", dp16)
    nodes = [flags(argv(n.command)) for n in r.nodes.nodes]
    assert [int(f["--data-parallel-size-local"]) for f in nodes] == [8, 8]
    assert sum(int(f["--data-parallel-size-local"]) for f in nodes) == int(nodes[0]["--data-parallel-size"]) == e.dp
    assert "--data-parallel-start-rank" not in nodes[0] and nodes[1]["--data-parallel-start-rank"] == "8"
    assert "--headless" not in nodes[0] and "--headless" in nodes[1]
    assert {f["--data-parallel-address"] for f in nodes} == {"$NODE0_ADDR"} and "--nnodes" not in nodes[0]


def test_vllm_tp8_dp2_puts_one_rank_on_each_node():
    r, _ = launch("vllm", tp8dp2, system="h100_sxm")
    nodes = [flags(argv(n.command)) for n in r.nodes.nodes]
    assert [f["--data-parallel-size-local"] for f in nodes] == ["1", "1"]
    assert nodes[1]["--data-parallel-start-rank"] == "1"
    assert [f["--tensor-parallel-size"] for f in nodes] == ["8", "8"]


def test_vllm_a_rank_wider_than_a_node_runs_over_nodes_by_multiprocessing():
    r, _ = launch("vllm", tp16)
    nodes = [flags(argv(n.command)) for n in r.nodes.nodes]
    assert [f["--node-rank"] for f in nodes] == ["0", "1"] and {f["--nnodes"] for f in nodes} == {"2"}
    assert {f["--master-addr"] for f in nodes} == {"$NODE0_ADDR"} and "--data-parallel-size-local" not in nodes[0]
    assert "--headless" not in nodes[0] and "--headless" in nodes[1]


@pytest.mark.parametrize("engine_of", [dp16, tp16])
def test_trtllm_the_leader_starts_every_rank_by_mpi(engine_of):
    r, e = launch("trtllm", engine_of)
    leader, follower = r.nodes.nodes
    args = argv(leader.command)
    assert args[:2] == ["mpirun", "-H"] and args[args.index("-np") + 1] == str(e.gpus)
    hosts = args[2].split(",")
    assert hosts == ["$NODE0_ADDR:8", "$NODE1_ADDR:8"] and sum(int(h.split(":")[1]) for h in hosts) == e.gpus
    serve = args.index("trtllm-serve")
    assert args[serve - 1] == "trtllm-llmapi-launch" and args[args.index("--tp_size") + 1] == str(e.gpus)
    assert follower.command == "" and follower.setup.startswith("printf ")  # the options file its ranks read
    assert follower.setup == leader.setup


def test_node_gpus_come_from_the_hardware_catalog():
    """A GB200 compute tray holds 4 GPUs: an 8-GPU engine is two hosts of 4 (slots 4 each)."""
    r, e = launch("trtllm", lambda q: Engine(1, 1, q, dp=8, moe_tp=1, moe_ep=8), system="gb200")
    hosts = argv(r.nodes.nodes[0].command)[2].split(",")
    assert hosts == ["$NODE0_ADDR:4", "$NODE1_ADDR:4"]
    s = span(e, 4, framework(Backend.VLLM).launch.multinode)
    assert [n.gpus for n in s.ranks] == [4, 4] and [n.dp_local for n in s.ranks] == [4, 4]


def test_a_dense_engine_over_nodes():
    """Dense tp8 x pp2 (16 GPUs): SGLang gives both nodes the whole engine's sizes and its rank."""
    r, _ = launch("sglang", lambda q: Engine(8, 2, q), model="Qwen/Qwen3-32B")
    nodes = [flags(argv(n.command)) for n in r.nodes.nodes]
    assert [f["--node-rank"] for f in nodes] == ["0", "1"] and {f["--pp-size"] for f in nodes} == {"2"}


def test_the_text_names_the_addresses_to_set_and_one_block_per_node():
    r, _ = launch("trtllm", dp16)
    lines = r.text.splitlines()
    assert "set NODE0_ADDR, NODE1_ADDR" in lines[0] and "over 2 nodes of 8 GPUs" in lines[0]
    assert [ln for ln in lines if ln.startswith("# node ")][0].startswith("# node 0 (leader)")
    assert [n["node"] for n in r.nodes.to_list()] == [0, 1]
    assert r.nodes.to_list()[1]["address"] == "$NODE1_ADDR"


STUB = """#!/bin/sh
printf '%s\\037' "$(basename "$0")" "$@" > "$(mktemp "$LOG/run.XXXXXX")"
"""


@pytest.mark.parametrize("backend", list(Backend))
def test_each_node_line_runs_and_the_shell_fills_the_addresses(backend, tmp_path):
    """Stub programs record their arguments: with NODE<k>_ADDR set, every node's line starts its process
    with the real addresses (quoting keeps the placeholders expandable) and writes its files."""
    r, _ = launch(backend, dp16)
    bin_, log = tmp_path / "bin", tmp_path / "log"
    bin_.mkdir()
    log.mkdir()
    for name in ("vllm", "python3", "trtllm-serve", "mpirun"):
        (bin_ / name).write_text(STUB)
        (bin_ / name).chmod(stat.S_IRWXU)
    env = {"PATH": f"{bin_}:/usr/bin:/bin", "LOG": str(log), "NODE0_ADDR": "10.0.0.1", "NODE1_ADDR": "10.0.0.2"}
    for n in r.nodes.nodes:
        run = subprocess.run(["sh", "-c", n.line], cwd=tmp_path, env=env, capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
    runs = [f.read_text().split("\x1f")[:-1] for f in log.iterdir()]
    expected = [argv(n.command) for n in r.nodes.nodes if n.command]
    filled = [[a.replace("$NODE0_ADDR", "10.0.0.1").replace("$NODE1_ADDR", "10.0.0.2") for a in x] for x in expected]
    assert sorted(runs) == sorted(filled) and "$NODE" not in json.dumps(runs)
    if backend is Backend.TRTLLM:
        assert (tmp_path / "extra.yaml").read_text().startswith("kv_cache_config")


# --------------------------------------------------------------------------- names are data
@pytest.mark.parametrize("module", ["multinode.py", "disagg_nodes.py", "replica.py"])
def test_the_node_generators_hold_no_flag_or_command_name(module):
    tree = ast.parse((ROOT / "generators" / module).read_text())
    literals = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    names = {"mpirun", "trtllm-llmapi-launch", "vllm", "python3", "localhost"}
    assert not [s for s in literals if s.startswith("-") or s in names]


@pytest.mark.parametrize("backend, old", [(Backend.VLLM, "--data-parallel-size-local"), (Backend.VLLM, "--headless"),
                                          (Backend.SGLANG, "--dist-init-addr"), (Backend.TRTLLM, "mpirun")])
def test_renaming_a_multinode_name_in_the_data_renames_it_in_the_commands(tmp_path, backend, old):
    text = (FOLDER / f"{backend.value}.yaml").read_text()
    head, rest = text.split("  multinode:", 1)
    block, tail = rest.split("\n\n", 1)
    path = tmp_path / f"{backend.value}.yaml"
    path.write_text(head + "  multinode:" + block.replace(old, old + "-renamed") + "\n\n" + tail)
    r, _ = launch(backend, dp16, spec=load_framework(path))
    out = "\n".join(n.line for n in r.nodes.nodes)
    assert old + "-renamed" in out and old not in out.replace(old + "-renamed", "")


def test_a_template_naming_an_unknown_field_is_a_data_error(tmp_path):
    text = (FOLDER / "sglang.yaml").read_text().replace('"${addr}:${port}"', '"${leader}:${port}"')
    path = tmp_path / "sglang.yaml"
    path.write_text(text)
    with pytest.raises(FrameworkDataError, match=r"launch.multinode: '\$\{leader\}:\$\{port\}' names leader"):
        load_framework(path)


def test_solve_json_carries_the_per_node_commands():
    """DeepSeek-V3 (FP8) does not fit one 8 x H100 node: the best plan's engine spans two, and --json
    lists both nodes' commands under launch_nodes (the best point's and its replica group's)."""
    run = subprocess.run([str(ROOT / ".venv" / "bin" / "sloplan") if (ROOT / ".venv").exists() else "sloplan",
                          "solve", "--model", DSV3, "--system", "h100_sxm", "--backend", "sglang", "--total-gpus", "16",
                          "--isl", "4000", "--osl", "500", "--ttft-ms", "5000", "--tpot-ms", "100", "--modes", "agg",
                          "--json"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    best = json.loads(run.stdout)["best"]
    nodes = best["launch_nodes"]
    assert [n["node"] for n in nodes] == [0, 1] and best["replicas"][0]["launch_nodes"] == nodes
    ranks = [flags(argv(n["commands"][0]))["--node-rank"] for n in nodes]
    assert ranks == ["0", "1"] and all(n["commands"][0] in best["launch"] for n in nodes)


def test_a_port_template_without_a_port_is_a_data_error(tmp_path):
    text = (FOLDER / "trtllm.yaml").read_text().replace('-np, "${ranks}"', '-np, "${port}"')
    path = tmp_path / "trtllm.yaml"
    path.write_text(text)
    with pytest.raises(FrameworkDataError, match=r"launch.multinode: '\$\{port\}' names port"):
        load_framework(path)
