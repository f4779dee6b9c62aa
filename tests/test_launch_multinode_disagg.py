"""Disaggregated bundles over several nodes (generators/disagg_nodes.py): workers packed onto nodes of
their system, each listening on its node's address, the router given those addresses, a worker larger
than a node started on each of its nodes; the text runs node by node."""
import json
import shlex
import stat
import subprocess

import pytest
import yaml

from disagg_helpers import DENSE, bundle, context, env_of, worker
from sloplan.core.enums import Backend, Role
from sloplan.generators.disagg_launch import disagg_launch
from sloplan.generators.disagg_nodes import place

DSV3 = "deepseek-ai/DeepSeek-V3"
ADDRS = {"NODE0_ADDR": "10.0.0.1", "NODE1_ADDR": "10.0.0.2", "NODE2_ADDR": "10.0.0.3"}


def argv(cmd):
    return shlex.split(cmd.split(" && ")[-1])


def after(args, flag):
    return args[args.index(flag) + 1]


def filled(text):
    for k, v in ADDRS.items():
        text = text.replace(f"${k}", v)
    return text


def wide_bundle(backend):
    """DeepSeek-V3: one prefill worker on one node (attention DP 8, EP 8) and one decode worker over two
    8-GPU H200 nodes (tp16 ep16)."""
    ctx, _ = context(DSV3, backend)
    p = worker(DSV3, backend, "tp1pp1dp8ep8 fp8_block", Role.PREFILL, 2, 1)
    d = worker(DSV3, backend, "tp16pp1ep16 fp8_block", Role.DECODE, 64, 1)
    return disagg_launch(backend, ctx.arch, ctx.fw, ctx.workload, p, d)


def test_placement_packs_workers_on_nodes_of_their_system():
    class W:  # WorkerSpec's two fields place() reads
        def __init__(self, gpus, count, system):
            self.engine, self.count, self.system = type("E", (), {"gpus": gpus})(), count, system

    groups, systems = place([W(2, 3, "a"), W(1, 3, "a"), W(16, 1, "a"), W(4, 2, "b")], {"a": 8, "b": 4})
    assert [g.nodes for g in groups] == [((0,), (0,), (0,)), ((0,), (0,), (1,)), ((2, 3),), ((4,), (5,))]
    assert [g.first_gpus for g in groups] == [(0, 2, 4), (6, 7, 0), (0,), (0, 0)]
    assert systems == ["a", "a", "a", "a", "b", "b"]


def test_a_bundle_on_one_node_keeps_its_single_host_text():
    b = bundle(DENSE, Backend.SGLANG, "tp2pp1 fp8_block", "tp1pp1 fp8_block", p=(4, 2), d=(48, 3))
    assert b.node_systems == () and "$NODE" not in b.text() and b.to_dict()["nodes"] is None
    assert "--host localhost" in b.text()


@pytest.mark.parametrize("backend", list(Backend))
def test_workers_over_two_nodes_listen_on_their_node_and_the_router_knows_them(backend):
    """3 x TP2 prefill + 3 x TP1 decode = 9 GPUs: the last decode worker is on node 1, GPU 0."""
    b = bundle(DENSE, backend, "tp2pp1 fp8_block", "tp1pp1 fp8_block", p=(4, 3), d=(48, 3))
    assert b.node_systems == ("h200_sxm", "h200_sxm")
    workers = [(s, i) for s in b.steps if s.role is not Role.ROUTER for i in range(s.count)]
    assert [s.nodes[i] for s, i in workers] == [(0,)] * 5 + [(1,)]
    used = [(s.nodes[i][0], g) for s, i in workers
            for g in env_of(s.worker_command(i))["CUDA_VISIBLE_DEVICES"].split(",")]
    assert len(set(used)) == len(used) == 9 and all(0 <= int(g) < 8 for _, g in used)
    for s, i in workers:
        assert after(argv(s.worker_command(i)), "--host") == f"$NODE{s.nodes[i][0]}_ADDR"
    router = b.step(Role.ROUTER)
    text = router.setup + router.command
    assert "localhost" not in text and "NODE1_ADDR" in text
    node = [e for e in b.to_dict()["nodes"] if e["node"] == 1][0]
    assert len(node["commands"]) == 1 and "--port" in node["commands"][0]


def test_the_router_file_lists_each_worker_at_its_node(tmp_path):
    """TensorRT-LLM's router reads its workers from disagg_config.yaml: with the addresses set, the file the
    shell writes names each worker's node address and port."""
    b = bundle(DENSE, Backend.TRTLLM, "tp2pp1 fp8_block", "tp1pp1 fp8_block", p=(4, 3), d=(48, 3))
    setup = b.step(Role.ROUTER).setup
    run = subprocess.run(["sh", "-c", setup], cwd=tmp_path, env={"PATH": "/usr/bin:/bin", **ADDRS})
    assert run.returncode == 0
    doc = yaml.safe_load((tmp_path / "disagg_config.yaml").read_text())
    assert doc["context_servers"]["urls"] == ["10.0.0.1:8001", "10.0.0.1:8002", "10.0.0.1:8003"]
    assert doc["generation_servers"]["urls"] == ["10.0.0.1:8004", "10.0.0.1:8005", "10.0.0.2:8006"]


def test_pools_on_two_systems_are_two_nodes_with_addresses():
    ctx, _ = context(DENSE, Backend.VLLM, "h100_sxm")
    p = worker(DENSE, Backend.VLLM, "tp2pp1 fp8_block", Role.PREFILL, 2, 3, system="h100_sxm")
    d = worker(DENSE, Backend.VLLM, "tp1pp1 fp8_block", Role.DECODE, 32, 4)
    b = disagg_launch(Backend.VLLM, ctx.arch, ctx.fw, ctx.workload, p, d)
    assert b.node_systems == ("h100_sxm", "h200_sxm")
    cmd = b.step(Role.DECODE).worker_command(0)
    assert env_of(cmd)["VLLM_NIXL_SIDE_CHANNEL_HOST"] == "$NODE1_ADDR"  # reachable from the other node
    assert "# ---- node 1 (h200_sxm)" in b.text()


@pytest.mark.parametrize("backend", list(Backend))
def test_a_decode_worker_over_two_nodes_gets_a_command_on_each(backend):
    b = wide_bundle(backend)
    assert b.node_systems == ("h200_sxm",) * 3
    d = b.step(Role.DECODE)
    lines = d.node_lines(0)
    assert [n for n, _, _ in lines] == [1, 2] and d.worker_command(0) == lines[0][1]
    leader, follower = (argv(line) if line else [] for _, line, _ in lines)
    if backend is Backend.SGLANG:
        assert [after(a, "--node-rank") for a in (leader, follower)] == ["0", "1"]
        assert {after(a, "--dist-init-addr") for a in (leader, follower)} == {"$NODE1_ADDR:20000"}
    elif backend is Backend.VLLM:
        assert {after(a, "--master-addr") for a in (leader, follower)} == {"$NODE1_ADDR"}
        assert "--headless" in follower and "--headless" not in leader
        assert after(follower, "--host") == "$NODE2_ADDR"  # each node's processes listen on their own address
    else:
        assert leader[:3] == ["mpirun", "-H", "$NODE1_ADDR:8,$NODE2_ADDR:8"] and after(leader, "-np") == "16"
        assert not lines[1][2] and lines[1][1].startswith("printf ")  # node 2 writes decode.yaml only
    router = b.step(Role.ROUTER)
    assert "NODE1_ADDR" in router.setup + router.command and "NODE2_ADDR" not in router.setup + router.command


STUB = """#!/bin/sh
printf '%s\\037' "$(basename "$0")" "$@" > "$(mktemp "$LOG/run.XXXXXX")"
"""


@pytest.mark.parametrize("backend", list(Backend))
def test_each_node_block_runs_there_with_the_addresses_filled(backend, tmp_path):
    """The text cut at its node markers: every node's block runs in a shell with stub programs, and the
    processes start with the arguments node_lines gives, the addresses filled."""
    b = wide_bundle(backend)
    blocks, current = {}, None
    for line in b.text().splitlines():
        if line.startswith("# ---- node "):
            current = int(line.split()[3].rstrip(":"))
        elif current is not None:
            blocks.setdefault(current, []).append(line)
    assert sorted(blocks) == [0, 1, 2]
    bin_, log = tmp_path / "bin", tmp_path / "log"
    bin_.mkdir()
    log.mkdir()
    for name in ("vllm", "vllm-router", "python3", "trtllm-serve", "mpirun"):
        (bin_ / name).write_text(STUB)
        (bin_ / name).chmod(stat.S_IRWXU)
    env = {"PATH": f"{bin_}:/usr/bin:/bin", "LOG": str(log), **ADDRS}
    for lines in blocks.values():
        run = subprocess.run(["sh", "-c", "\n".join([*lines, "wait"])], cwd=tmp_path, env=env, capture_output=True,
                             text=True)
        assert run.returncode == 0, run.stderr
    runs = sorted(f.read_text().split("\x1f")[:-1] for f in log.iterdir())
    want = [argv(filled(line))[len(env_of(line)):] for s in b.steps if s.role is not Role.ROUTER
            for i in range(s.count) for _, line, serves in s.node_lines(i) if serves]
    want.append(argv(filled(b.step(Role.ROUTER).worker_command(0))))
    assert runs == sorted(want) and "$NODE" not in json.dumps(runs)


def test_solve_json_carries_a_bundle_over_nodes_node_by_node():
    """The README's disaggregated plan (11 prefill + 5 decode workers of one H200 GPU each: two nodes):
    --json lists each node's commands, every worker once, the router on node 0, none on localhost."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    exe = root / ".venv" / "bin" / "sloplan"
    run = subprocess.run([str(exe) if exe.exists() else "sloplan", "solve", "--model", DENSE, "--system", "h200_sxm",
                          "--total-gpus", "16", "--isl", "4000", "--osl", "500", "--ttft-ms", "2000", "--tpot-ms", "30",
                          "--modes", "disagg", "--json"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    best = json.loads(run.stdout)["best"]
    nodes = best["launch_nodes"]
    assert [n["node"] for n in nodes] == [0, 1] and {n["system"] for n in nodes} == {"h200_sxm"}
    workers = sum(g["count"] for g in best["replicas"])
    servers = [c for n in nodes for c in n["commands"] if "--port" in c and "disaggregated" not in c]
    assert len(servers) == workers and "localhost" not in json.dumps(nodes)
    assert nodes[0]["commands"][-1] in best["launch"] and all(f"$NODE{n['node']}_ADDR" in json.dumps(n) for n in nodes)
