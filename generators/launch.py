"""Launch commands for a planned replica, consistent with the memory the plan assumed.

Every name in a command comes from the framework's data (model/frameworks/<backend>.yaml: its
command, its flag for each setting, in its order; modelopt.yaml for the offline quantizer); this
module only knows the structure: which setting takes which value from the plan. The memory knob is
written with the framework's own semantics (vLLM and SGLang: fraction of total memory; TRT-LLM:
fraction of memory free after weights), so the KV budget the server allocates is the one the plan's
capacity figures came from.
"""
from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence

from sloplan.model.engine import Engine
from sloplan.model.framework import (Framework, FrameworkProfile, Launch, OfflineQuantizer, OptionsFile,
                                     Setting, offline_quantizer)
from sloplan.model.quant import GemmQuant
from sloplan.model.wide_ep import a2a_backend
from sloplan.model.workload import Workload
from sloplan.perfdb.queries import MoeKernel

Value = str | bool | None  # a flag's value; True: a switch written alone; None or False: not written


# A node's address inside an argument or a written file (generators/multinode.py): written as the shell
# variable NODE<k>_ADDR. The mark is a word that neither shell quoting nor YAML quotes.
NODE_MARK = re.compile(r"__NODE(\d+)__")


def node_address(k: int) -> str:
    """The placeholder for node k's address in an argument; shell_join writes it as "$NODE<k>_ADDR"."""
    return f"__NODE{k}__"


def shell_join(argv: Sequence[str]) -> str:
    return " ".join(shell_quote(a) for a in argv)


def shell_quote(arg: str) -> str:
    """`arg` as one shell word; node-address placeholders stay expandable ("$NODE0_ADDR") wherever they
    are in it, the rest quoted as shlex does."""
    parts = NODE_MARK.split(arg)
    if len(parts) == 1:
        return shlex.quote(arg)
    return "".join(f'"$NODE{p}_ADDR"' if i % 2 else shlex.quote(p) if p else "" for i, p in enumerate(parts))


def offline_quantization(spec: Framework, model: str, engine: Engine, ckpt: GemmQuant,
                         tool: OfflineQuantizer | None = None) -> tuple[str, str]:
    """(command that writes the checkpoint the plan needs, model path to serve).

    A BF16 checkpoint planned in a lower precision the framework cannot make on load (TRT-LLM: any;
    vLLM/SGLang: NVFP4) is quantized first by the offline quantizer (NVIDIA Model Optimizer's PTQ
    script) into a folder the server then loads. Otherwise nothing to run."""
    gemm = engine.quant.gemm
    if gemm is ckpt or spec.capabilities.quantizes_on_load(gemm, ckpt):
        return "", model
    tool = tool or offline_quantizer()
    qformat = tool.qformats[gemm]
    folder = tool.export_folder.format(name=model.rstrip("/").split("/")[-1], qformat=qformat)
    args = shell_join([f"{tool.checkpoint_flag}={model}", f"{tool.qformat_flag}={qformat}",
                       f"{tool.export_flag}={folder}"])
    return f"{tool.command} {args} && ", folder


def settings(spec: Framework, engine: Engine, fw: FrameworkProfile, wl: Workload, max_seqs: int,
             ckpt: GemmQuant, gpus_per_node: int | None = None) -> dict[Setting, Value]:
    """What the plan says for each setting; the framework's data decides which are written and how.
    `gpus_per_node`: the system's node size (None: the engine on one node)."""
    caps, rules = spec.capabilities, spec.parallel_rules
    per_rank = -(-max_seqs // engine.dp) if rules.max_seqs_per_rank else max_seqs  # the engine's max_seqs
    return {Setting.TP: str(engine.tp * engine.dp if rules.world_tp else engine.tp), Setting.PP: str(engine.pp),
            **parallel_settings(engine), Setting.MOE_A2A: wide_ep_backend(spec, engine, gpus_per_node),
            Setting.MAX_SEQS: str(per_rank),
            Setting.TOKEN_BUDGET: str(written_budget(fw, engine, fw.token_budget)),
            Setting.MEMORY_FRACTION: f"{fw.kv_fraction:.2f}",
            Setting.KV_DTYPE: caps.kv_dtypes[engine.quant.kv], Setting.CONTEXT_LENGTH: str(wl.isl + wl.osl),
            Setting.QUANTIZATION: caps.load_quantization(engine.quant.gemm, ckpt),
            Setting.NO_PREFIX_CACHING: wl.prefix == 0, Setting.MOE_BACKEND: moe_backend(engine)}


def moe_backend(engine: Engine) -> str | None:
    """The engine's MoE backend where it is not TensorRT-LLM's default (CUTLASS, llmapi MoeConfig.backend;
    AUTO resolves to it for DeepSeek-style models), so the server runs the kernel the plan was priced on."""
    return None if engine.moe_kernel is MoeKernel.CUTLASS else engine.moe_kernel.value


def written_budget(fw: FrameworkProfile, engine: Engine, budget: int) -> int:
    """The token-budget flag's value that gives each of the engine's attention-DP ranks `budget` tokens a step,
    as priced (model/aggregated.py, model/disagg_workers.py: a rank's step at the budget) and as its memory
    plan reserves: `budget` x dp where the framework splits the flag over the ranks (SGLang divides
    --chunked-prefill-size by dp_size under --enable-dp-attention, model/frameworks/sglang.yaml), else
    `budget`. Written as the budget itself, a dp-8 SGLang engine's ranks would chunk an 8k prompt into
    1k-token passes."""
    return budget * engine.dp if fw.token_budget_split_over_dp and engine.dp > 1 else budget


def wide_ep_backend(spec: Framework, engine: Engine, gpus_per_node: int | None) -> str | None:
    """The experts' all-to-all flag value where the framework's wide-EP rule applies (the pricing follows
    the same rule: model/moe_ops.py, model/deepep_ops.py), else not written."""
    return a2a_backend(spec.capabilities.wide_ep, engine, gpus_per_node)


def parallel_settings(engine: Engine) -> dict[Setting, Value]:
    """A MoE engine's attention-DP and expert degrees, each written only above 1 (a dense engine's
    command has none of them); the switches turn the framework's DP attention / expert parallelism on."""
    def above_one(n: int) -> str | None:
        return str(n) if n > 1 else None

    return {Setting.DP: above_one(engine.dp), Setting.MOE_TP: above_one(engine.moe_tp),
            Setting.MOE_EP: above_one(engine.moe_ep), Setting.ATTENTION_DP: engine.dp > 1 or None,
            Setting.EXPERT_PARALLEL: engine.moe_ep > 1 or None}


def server_command(launch: Launch, model: str, values: dict[Setting, Value], env: Sequence[str] = ()) -> str:
    """The server's command line: environment assignments (`env`, "NAME=value"), command, model, fixed
    arguments, then each flag in the data's order; settings kept in an options file are written to it
    first and passed by its flag."""
    setup, cmd = server_parts(launch, model, values, env=env)
    return f"{setup} && {cmd}" if setup else cmd


def server_parts(launch: Launch, model: str, values: dict[Setting, Value], env: Sequence[str] = (),
                 tail: Sequence[str] = (), options: Mapping[str, object] | None = None) -> tuple[str, str]:
    """(shell text writing the options file, or "" when none is needed; the server's command line).
    A disaggregated worker adds environment assignments (`env`, "NAME=value"), arguments after the
    flags (`tail`) and keys of its own in the options file (`options`, dotted)."""
    argv = [*env, *launch.command, *([launch.model_flag] if launch.model_flag else []), model, *launch.fixed]
    for setting, flag in launch.flags.items():
        value = values[setting]
        argv += [] if value is None or value is False else [flag] if value is True else [flag, value]
    cmd = shell_join([*argv, *tail])
    text = _options_text(launch.options_file, values, options or {}) if launch.options_file else None
    if text is None:
        return "", cmd
    f = launch.options_file
    return write_file(f.path, text), f"{cmd} {shell_join([f.flag, f.path])}"


def write_file(path: str, text: str) -> str:
    """Shell text that writes `text` to `path` (printf turns the escaped newlines back)."""
    escaped = text.replace("\n", "\\n")
    return f"printf {shell_quote(escaped)} > {shlex.quote(path)}"


def _options_text(f: OptionsFile, values: dict[Setting, Value], extra: Mapping[str, object]) -> str | None:
    """The options file's YAML, or None when neither a setting nor an `extra` key needs it."""
    doc: dict = {}
    for setting, key in f.keys.items():
        if values[setting] is not None:
            _put(doc, key, values[setting])
    if not doc and not extra:
        return None
    doc.update(f.written_with)
    for key, value in extra.items():
        _put(doc, key, value)
    import yaml

    return yaml.safe_dump(doc, sort_keys=False)


def _put(doc: dict, key: str, value: object) -> None:
    """doc[a][b] = value for the dotted key "a.b"."""
    *parents, leaf = key.split(".")
    node = doc
    for p in parents:
        node = node.setdefault(p, {})
    node[leaf] = value
