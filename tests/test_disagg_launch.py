"""Disaggregated launch bundles (generators/disagg_launch.py) on real engines: every backend, dense and
MoE (attention DP / expert parallel), the plan's settings in each worker, counts, distinct ports, a router
that names every worker, option files that parse, mixed pools, and memory as the plan computed it (the
text itself and the data's names: tests/test_disagg_launch_run.py)."""
import json
import math
import shlex

import pytest

from disagg_helpers import (DENSE, FOLDER, ISL, MOE, OSL, after, all_ports, argv, bundle, context, env_of,
                            expected_starts, host_of, run_stubbed, worker, written)
from sloplan.core.enums import Backend, Role
from sloplan.generators.disagg_launch import WorkerSpec, disagg_launch, memory_fraction
from sloplan.model.framework import framework, load_framework
from sloplan.model.memory import memory_plan


# --------------------------------------------------------------------------- dense, every backend
@pytest.mark.parametrize("backend", list(Backend))
def test_dense_workers_carry_the_plan_and_their_role(backend):
    b = bundle(DENSE, backend, "tp2pp1 fp8_block", "tp1pp1 fp8_block")
    spec, fw = framework(backend), context(DENSE, backend)[0].fw
    flags = spec.launch.flags
    for step, max_seqs, budget in ((b.step(Role.PREFILL), 4, 4 * ISL), (b.step(Role.DECODE), 48, fw.token_budget)):
        for i in range(step.count):
            cmd = step.worker_command(i)
            args = argv(cmd)
            assert after(args, flags["max_seqs"]) == str(max_seqs)
            assert after(args, flags["token_budget"]) == str(budget)  # prefill: the whole batch of prompts
            assert after(args, flags["context_length"]) == str(ISL + OSL)
            assert after(args, flags["memory_fraction"]) == f"{fw.kv_fraction:.2f}"
            assert after(args, spec.disaggregation.port_flag) == str(step.ports[i])
    assert [s.role for s in b.steps] == [Role.PREFILL, Role.DECODE, Role.ROUTER]
    assert [s.count for s in b.steps] == [2, 3, 1]


def test_vllm_workers_use_the_nixl_connector_and_their_own_side_channel():
    b = bundle(DENSE, Backend.VLLM, "tp2pp1 fp8_block", "tp1pp1 fp8_block")
    for step in b.steps[:2]:
        for i in range(step.count):
            cmd = step.worker_command(i)
            assert json.loads(after(argv(cmd), "--kv-transfer-config")) == {"kv_connector": "NixlConnector",
                                                                              "kv_role": "kv_both"}
            assert env_of(cmd)["VLLM_NIXL_SIDE_CHANNEL_PORT"] == str(step.aux_ports[i])
            assert argv(cmd)[len(env_of(cmd)):][:2] == ["vllm", "serve"]
    assert b.transfer_backend == "NixlConnector"


def test_sglang_workers_name_their_mode_and_prefill_its_bootstrap_port():
    b = bundle(DENSE, Backend.SGLANG, "tp2pp1 fp8_block", "tp1pp1 fp8_block")
    p, d = b.step(Role.PREFILL), b.step(Role.DECODE)
    for i in range(p.count):
        args = argv(p.worker_command(i))
        assert after(args, "--disaggregation-mode") == "prefill"
        assert after(args, "--disaggregation-transfer-backend") == "mooncake"
        assert after(args, "--disaggregation-bootstrap-port") == str(p.aux_ports[i])
        assert after(args, "--max-prefill-tokens") == after(args, "--chunked-prefill-size") == str(4 * ISL)
    args = argv(d.worker_command(0))
    assert after(args, "--disaggregation-mode") == "decode" and "--disaggregation-bootstrap-port" not in args
    assert "--max-prefill-tokens" not in args
    assert d.aux_ports == ()


@pytest.mark.parametrize("max_seqs", [1, 4])
def test_sglang_attention_dp_prefill_ranks_each_get_the_priced_budget(max_seqs):
    """SGLang divides --chunked-prefill-size by dp_size under --enable-dp-attention (ServerArgs.
    _handle_data_parallelism): the prefill worker writes its per-rank budget x dp, so each rank passes the
    budget its memory was planned for and the estimate priced (whole prompts, at least the framework's
    budget); --max-prefill-tokens, each rank scheduler's own cap, stays the per-rank budget. Decode
    workers' ranks get the framework's budget, as an aggregated engine's (generators/launch.py written_budget)."""
    ctx, slots = context(MOE, Backend.SGLANG)
    s = max((s for s in slots.values() if s.engine.dp > 1), key=lambda s: s.engine.dp)
    b = bundle(MOE, Backend.SGLANG, s.engine.label, s.engine.label, p=(max_seqs, 1), d=(32, 1))
    per_rank = max(ctx.fw.token_budget, max_seqs * ISL)
    args = argv(b.step(Role.PREFILL).worker_command(0))
    assert "--enable-dp-attention" in args and after(args, "--dp-size") == str(s.engine.dp)
    assert int(after(args, "--chunked-prefill-size")) // s.engine.dp == per_rank >= ISL
    assert after(args, "--max-prefill-tokens") == str(per_rank)
    decode = int(after(argv(b.step(Role.DECODE).worker_command(0)), "--chunked-prefill-size"))
    assert decode == ctx.fw.token_budget * s.engine.dp


def test_trtllm_workers_carry_a_cache_transceiver_and_context_workers_no_overlap_scheduler():
    b = bundle(DENSE, Backend.TRTLLM, "tp2pp1 fp8_block", "tp1pp1 fp8_block")
    p, d = b.step(Role.PREFILL), b.step(Role.DECODE)
    pre, dec = written(p.worker_command(0)), written(d.worker_command(0))
    assert pre["cache_transceiver_config"] == dec["cache_transceiver_config"] == {"backend": "NIXL",
                                                                                 "max_tokens_in_buffer": ISL}
    assert pre["disable_overlap_scheduler"] is True and "disable_overlap_scheduler" not in dec
    assert pre["kv_cache_config"] == {"dtype": "fp8"}  # the aggregated settings stay in the file
    assert after(argv(p.worker_command(0)), "--extra_llm_api_options") == "prefill.yaml"
    assert after(argv(d.worker_command(0)), "--extra_llm_api_options") == "decode.yaml"
    line = p.line()  # the file is written once, before the loop starts the workers
    assert line.count("printf") == 1 and line.index("> prefill.yaml && for i in") < line.index("trtllm-serve")


@pytest.mark.parametrize("backend", [Backend.VLLM, Backend.SGLANG])
def test_the_router_lists_every_worker_in_order(backend):
    b = bundle(DENSE, backend, "tp2pp1 fp8_block", "tp1pp1 fp8_block", p=(2, 3), d=(32, 4))
    r = b.step(Role.ROUTER)
    args = shlex.split(r.command)
    prefills = [args[i + 1] for i, a in enumerate(args) if a == "--prefill"]
    decodes = [args[i + 1] for i, a in enumerate(args) if a == "--decode"]
    for role, urls in ((Role.PREFILL, prefills), (Role.DECODE, decodes)):
        s = b.step(role)
        assert urls == [f"http://{host_of(s, i)}:{p}" for i, p in enumerate(s.ports)]
    if backend is Backend.SGLANG:  # each prefill URL followed by its bootstrap port
        boots = [args[i + 2] for i, a in enumerate(args) if a == "--prefill"]
        assert boots == [str(a) for a in b.step(Role.PREFILL).aux_ports]
    assert after(args, "--port") == str(r.ports[0]) and b.steps[-1] is r


def test_trtllm_router_file_counts_every_worker():
    b = bundle(DENSE, Backend.TRTLLM, "tp2pp1 fp8_block", "tp1pp1 fp8_block", p=(2, 3), d=(32, 4))
    doc = written(b.step(Role.ROUTER).worker_command(0))
    assert doc["context_servers"]["num_instances"] == 3 == b.step(Role.PREFILL).count
    assert doc["generation_servers"]["num_instances"] == 4 == b.step(Role.DECODE).count
    for role, key in ((Role.PREFILL, "context_servers"), (Role.DECODE, "generation_servers")):
        s = b.step(role)
        assert doc[key]["urls"] == [f"{host_of(s, i)}:{p}" for i, p in enumerate(s.ports)]
    assert doc["port"] == 8000 and doc["backend"] == "pytorch"
    assert argv(b.step(Role.ROUTER).command) == ["trtllm-serve", "disaggregated", "-c", "disagg_config.yaml"]


@pytest.mark.parametrize("backend", list(Backend))
def test_a_mixed_pool_gets_a_step_per_engine_type_and_the_router_all_of_them(backend, tmp_path):
    ctx, _ = context(DENSE, backend)
    p = worker(DENSE, backend, "tp2pp1 fp8_block", Role.PREFILL, 4, 2)
    d1 = worker(DENSE, backend, "tp1pp1 fp8_block", Role.DECODE, 32, 3)
    d2 = worker(DENSE, backend, "tp2pp1 fp8_block", Role.DECODE, 96, 1)
    b = disagg_launch(backend, ctx.arch, ctx.fw, ctx.workload, p, [d1, d2])
    assert [(s.role, s.count) for s in b.steps] == [(Role.PREFILL, 2), (Role.DECODE, 3), (Role.DECODE, 1),
                                                     (Role.ROUTER, 1)]
    decode_ports = [q for s in b.steps_of(Role.DECODE) for q in s.ports]
    hosts = [host_of(s, i) for s in b.steps_of(Role.DECODE) for i in range(s.count)]
    assert decode_ports == list(range(decode_ports[0], decode_ports[0] + 4))
    router = b.step(Role.ROUTER).worker_command(0)
    if backend is Backend.TRTLLM:
        assert written(router)["generation_servers"] == {"num_instances": 4,
                                                         "urls": [f"{h}:{q}" for h, q in zip(hosts, decode_ports)]}
        files = [after(argv(s.worker_command(0)), "--extra_llm_api_options") for s in b.steps_of(Role.DECODE)]
        assert files == ["decode.yaml", "decode2.yaml"]  # each engine type its own options file
    else:
        args = shlex.split(router)
        assert [args[i + 1] for i, a in enumerate(args) if a == "--decode"] == [f"http://{h}:{q}"
                                                                                 for h, q in zip(hosts, decode_ports)]
    assert "2 prefill + 4 decode workers" in b.text()
    assert run_stubbed(b, tmp_path) == expected_starts(b)


# --------------------------------------------------------------------------- MoE: attention DP and EP
@pytest.mark.parametrize("backend", list(Backend))
@pytest.mark.parametrize("model", [MOE, "deepseek-ai/DeepSeek-V3"])
def test_moe_workers_keep_their_parallelism_and_every_port_is_distinct(backend, model):
    _, slots = context(model, backend)
    dp_ep = sorted((s for s in slots.values() if s.engine.dp > 1 and s.engine.moe_ep > 1), key=lambda s: s.engine.gpus)
    p_slot, d_slot = dp_ep[0], dp_ep[-1]
    conc = min(64, d_slot.max_running)
    b = bundle(model, backend, p_slot.engine.label, d_slot.engine.label, p=(8, 3), d=(conc, 2))
    rules = framework(backend).parallel_rules
    for step, slot, max_seqs in ((b.step(Role.PREFILL), p_slot, 8), (b.step(Role.DECODE), d_slot, conc)):
        e, args = slot.engine, argv(step.worker_command(0))
        per_rank = -(-max_seqs // e.dp)
        flags = framework(backend).launch.flags
        assert after(args, flags["max_seqs"]) == str(per_rank if rules.max_seqs_per_rank else max_seqs)
        if backend is Backend.VLLM:
            assert after(args, "--data-parallel-size") == str(e.dp) and "--enable-expert-parallel" in args
        elif backend is Backend.SGLANG:
            assert after(args, "--dp-size") == str(e.dp) and "--enable-dp-attention" in args
            assert after(args, "--ep-size") == str(e.moe_ep)
        else:
            assert written(step.worker_command(0))["enable_attention_dp"] is True
            assert after(args, "--ep_size") == str(e.moe_ep)
    ports = all_ports(b, {Role.PREFILL: p_slot.engine.dp, Role.DECODE: d_slot.engine.dp})
    assert len(ports) == len(set(ports))


def test_vllm_side_channel_ports_leave_one_per_dp_rank():
    _, slots = context(MOE, Backend.VLLM)
    s = next(s for s in slots.values() if s.engine.dp == 4)
    b = bundle(MOE, Backend.VLLM, s.engine.label, s.engine.label, p=(8, 3), d=(32, 2))
    assert b.step(Role.PREFILL).aux_ports == (5600, 5604, 5608)
    assert b.step(Role.DECODE).aux_ports == (5612, 5616)


# --------------------------------------------------------------------------- memory as the plan computed it
@pytest.mark.parametrize("backend", list(Backend))
@pytest.mark.parametrize("model", [DENSE, MOE, "deepseek-ai/DeepSeek-V3"])
def test_the_memory_knob_inverts_the_plan_for_every_engine(backend, model):
    ctx, slots = context(model, backend)
    assert slots
    for slot in slots.values():
        assert math.isclose(memory_fraction(slot.memory, ctx.fw.kv_fraction_of), ctx.fw.kv_fraction, rel_tol=1e-12)


@pytest.mark.parametrize("backend", list(Backend))
def test_a_plan_at_another_fraction_is_served_at_it(backend):
    ctx, slots = context(DENSE, backend)
    slot = slots["tp1pp1 fp8_block"]
    d = WorkerSpec(slot.engine, memory_plan(ctx.arch, slot.engine, ctx.db.system, ctx.fw, kv_fraction=0.8), 16, 1,
                   "h200_sxm")
    b = disagg_launch(backend, ctx.arch, ctx.fw, ctx.workload, worker(DENSE, backend, "tp1pp1 fp8_block",
                                                                       Role.PREFILL, 2, 1), d)
    flag = framework(backend).launch.flags["memory_fraction"]
    assert after(argv(b.step(Role.DECODE).worker_command(0)), flag) == "0.80"
    assert after(argv(b.step(Role.PREFILL).worker_command(0)), flag) == f"{ctx.fw.kv_fraction:.2f}"


@pytest.mark.parametrize("backend", list(Backend))
def test_a_prefill_plan_at_the_default_token_budget_is_refused(backend):
    """Batch 4 x 4000 tokens needs a 16000-token step; a memory plan with 8192-token activations
    would promise KV the server does not have."""
    ctx, _ = context(DENSE, backend)
    p = worker(DENSE, backend, "tp1pp1 fp8_block", Role.PREFILL, 4, 1, fw=ctx.fw)
    d = worker(DENSE, backend, "tp1pp1 fp8_block", Role.DECODE, 16, 1)
    with pytest.raises(ValueError, match="prefill workers: the plan holds .* GiB of KV per GPU but the server"):
        disagg_launch(backend, ctx.arch, ctx.fw, ctx.workload, p, d)


def test_pools_on_two_systems_are_each_checked_against_their_own():
    ctx_h100, _ = context(DENSE, Backend.VLLM, "h100_sxm")
    p = worker(DENSE, Backend.VLLM, "tp2pp1 fp8_block", Role.PREFILL, 2, 2, system="h100_sxm")
    d = worker(DENSE, Backend.VLLM, "tp1pp1 fp8_block", Role.DECODE, 32, 1)
    b = disagg_launch(Backend.VLLM, ctx_h100.arch, ctx_h100.fw, ctx_h100.workload, p, d)
    assert "on h100_sxm" in b.step(Role.PREFILL).note and "on h200_sxm" in b.step(Role.DECODE).note
    wrong = WorkerSpec(p.engine, p.memory, 2, 2, "h200_sxm")  # an H100 plan on H200s: 141 GB, not 80
    with pytest.raises(ValueError, match="prefill workers"):
        disagg_launch(Backend.VLLM, ctx_h100.arch, ctx_h100.fw, ctx_h100.workload, wrong, d)


def test_ports_that_would_collide_are_refused(tmp_path):
    path = tmp_path / "sglang.yaml"
    path.write_text((FOLDER / "sglang.yaml").read_text().replace("first_aux_port: 8998", "first_aux_port: 30004"))
    spec = load_framework(path)
    assert bundle(DENSE, Backend.SGLANG, "tp1pp1 fp8_block", "tp1pp1 fp8_block", p=(2, 2), d=(8, 2), spec=spec)
    with pytest.raises(ValueError, match="ports overlap"):  # HTTP 30000..30004 meets bootstrap 30004
        bundle(DENSE, Backend.SGLANG, "tp1pp1 fp8_block", "tp1pp1 fp8_block", p=(2, 2), d=(8, 3), spec=spec)


def test_a_router_template_naming_a_port_the_worker_lacks_is_refused(tmp_path):
    path = tmp_path / "sglang.yaml"
    text = (FOLDER / "sglang.yaml").read_text()
    old = 'decode: [--decode, "http://${host}:${port}"]'
    assert old in text
    path.write_text(text.replace(old, 'decode: [--decode, "http://${host}:${port}", "${aux_port}"]'))
    with pytest.raises(ValueError, match="no 'aux_port' for this worker"):  # decode workers get no bootstrap port
        bundle(DENSE, Backend.SGLANG, "tp1pp1 fp8_block", "tp1pp1 fp8_block", spec=load_framework(path))


def test_workers_the_plan_cannot_mean_are_refused():
    ctx, _ = context(DENSE, Backend.SGLANG)
    p = worker(DENSE, Backend.SGLANG, "tp1pp1 fp8_block", Role.PREFILL, 2, 1)
    d = worker(DENSE, Backend.SGLANG, "tp1pp1 fp8_block", Role.DECODE, 16, 0)
    with pytest.raises(ValueError, match="decode workers: count 0"):
        disagg_launch(Backend.SGLANG, ctx.arch, ctx.fw, ctx.workload, p, d)
