"""Find a model's architecture offline: a local folder, our catalog, or the configs aiconfigurator-core ships.

Users type names many ways (`meta-llama/Llama-3.1-70B`, `meta-llama/Meta-Llama-3.1-70B`,
`Llama-3.1-70B-Instruct`); all of those describe one architecture. We normalize spelling and drop
suffixes that do not change the shape (`-Instruct`, `-Chat`, `-Base`), but never a quantization
suffix (`-FP8`, `-NVFP4`): those change the checkpoint format, which matters for memory and speed.
"""
from __future__ import annotations

import importlib.util
import re
from functools import lru_cache
from pathlib import Path

from .arch import ModelArch, UnsupportedModel
from .hf_config import InvalidModelConfig, read_json

_CATALOG = Path(__file__).parent / "catalog" / "models.yaml"
_SHAPE_SUFFIXES = re.compile(r"-(instruct|chat|base|it|hf)(?=-|$)")
_QUANT_SUFFIX = re.compile(r"-(fp8|nvfp4|fp4)(-.*)?$")
_SUFFIX_CASING = {"instruct": "Instruct", "chat": "Chat", "base": "Base", "it": "it", "hf": "hf"}


class UnknownModel(ValueError):
    field = "model"

    def __init__(self, name: str, suggestions: list[str]):
        self.accepted = suggestions
        hint = f"; did you mean: {', '.join(suggestions)}" if suggestions else "; see `sloplan models`"
        super().__init__(f"model: unknown model '{_short(name)}' (not a folder with config.json, "
                         f"not in the catalog){hint}")


def _key(name: str) -> str:
    """Spelling-insensitive key: lowercase, no org, no 'meta-' prefix, no shape-neutral suffixes."""
    base = name.strip().rstrip("/").split("/")[-1].lower().replace("_", "-")
    base = base.removeprefix("meta-")
    return _SHAPE_SUFFIXES.sub("", base)


@lru_cache(maxsize=1)
def _ours() -> dict[str, tuple[dict, dict | None]]:
    """Our own catalog (small; read first so common names resolve without touching the wheel)."""
    from sloplan.perfdb.yaml_cache import load_yaml_file

    return {name: (cfg, None) for name, cfg in load_yaml_file(_CATALOG).items()}


@lru_cache(maxsize=1)
def _entries() -> dict[str, tuple[dict, dict | None]]:
    """Every known config by canonical name: the wheel's cache first, ours on top (ours wins)."""
    entries: dict[str, tuple[dict, dict | None]] = {}
    folder = _wheel_folder()
    if folder is not None:
        for f in sorted(folder.glob("*_config.json")):
            if f.name.endswith("_hf_quant_config.json"):
                continue
            name = f.name.removesuffix("_config.json").replace("--", "/", 1)
            qf = folder / f.name.replace("_config.json", "_hf_quant_config.json")
            try:
                entries[name] = (read_json(f, f.name), read_json(qf, qf.name) if qf.exists() else None)
            except InvalidModelConfig:
                continue  # a damaged file in the wheel is not an entry
    entries.update(_ours())
    return entries


def list_models(dense_only: bool = True, designs: str = "dense") -> list[str]:
    """Catalog names, optionally only those this release estimates (whose config also validates), of the
    dense GQA designs (`designs="dense"`) or of the others (MoE, MLA, hybrid linear attention: "other")."""
    out = []
    for name, (cfg, q) in _entries().items():
        try:
            arch = ModelArch.from_hf_config(name, cfg, q, source=f"catalog entry {name}")
        except (UnsupportedModel, InvalidModelConfig):
            if dense_only:
                continue
        else:
            mixed = len(set(arch.attention.layers)) > 1  # gpt-oss: sliding and full layers
            dense = arch.mlp.moe is None and arch.attention.gqa is not None and not mixed
            if dense_only and dense != (designs == "dense"):
                continue
        out.append(name)
    return sorted(out)


def resolve_model(name: str, estimable: bool = True) -> ModelArch:
    """A path to a folder with config.json, an exact catalog name, or a spelling variant of one.

    The result's `checkpoint` is what a server should load: the folder, the exact name, or the
    catalog's Hugging Face id spelled as the hub spells it (see `checkpoint_id`). `estimable` (what
    solve/estimate ask for) refuses a recognised design the estimators do not price yet; False
    describes any recognised design (MoE, MLA, sparse or linear attention)."""
    parse = ModelArch.from_hf_config if estimable else ModelArch.parse
    folder = _local_folder(name)
    if folder is not None:
        return _from_folder(name, folder, parse)
    found = _lookup(name)
    if found is None:
        raise UnknownModel(name, _suggest(name, list(_entries())))
    canon, entry = found
    return parse(name, *entry, checkpoint=checkpoint_id(name, canon), source=f"catalog entry {canon}")


def catalog_entry(name: str) -> str | None:
    """The catalog name whose architecture `name` resolves to (None: unknown, or a local folder)."""
    found = None if _local_folder(name) else _lookup(name)
    return found[0] if found else None


def _lookup(name: str) -> tuple[str, tuple[dict, dict | None]] | None:
    ours = _ours()
    if name in ours:
        return name, ours[name]
    shipped = _wheel_config(name)
    if shipped:
        return name, shipped
    for pool in (ours, _entries()):  # spelling variants: our catalog first, it is small
        canon = _by_key(tuple(pool)).get(_key(name))
        if canon:
            return canon, pool[canon]
    return None


def checkpoint_id(typed: str, canon: str) -> str:
    """The Hugging Face id a server loads for `typed`, which resolved to the catalog entry `canon`.

    A spelling of the entry itself (`qwen3-32b`, `Meta-Llama-3.1-70B`) is the entry's id. A spelling
    that differs from it only by a shape-neutral suffix (`llama-3.1-8b-instruct` for
    meta-llama/Llama-3.1-8B) names a different checkpoint of the same shape: the entry's org and
    casing with the user's suffixes (meta-llama/Llama-3.1-8B-Instruct). A different org the user typed
    (a fine-tune or a mirror of that shape) is served as typed."""
    typed = typed.strip().rstrip("/")
    org, _, base = typed.rpartition("/")
    canon_org, _, canon_base = canon.rpartition("/")
    if org and org.lower() != canon_org.lower():
        return typed
    if _full_key(typed) == _full_key(canon):
        return canon
    casing = {t.lower(): t for t in re.split(r"[-_]", canon_base)}
    tokens = re.split(r"[-_]", base)
    if tokens and tokens[0].lower() == "meta" and "meta" not in casing:
        tokens = tokens[1:]
    words = [casing.get(t.lower(), _SUFFIX_CASING.get(t.lower(), t)) for t in tokens]
    return f"{canon_org}/{'-'.join(words)}" if canon_org else "-".join(words)


def _full_key(name: str) -> str:
    """Like `_key`, keeping the shape-neutral suffixes (they name different checkpoints)."""
    return name.strip().rstrip("/").split("/")[-1].lower().replace("_", "-").removeprefix("meta-")


@lru_cache(maxsize=4)
def _by_key(names: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for canon in names:
        out.setdefault(_key(canon), canon)
    return out


def _wheel_folder() -> Path | None:
    spec = importlib.util.find_spec("aiconfigurator_core")
    if spec and spec.submodule_search_locations:
        return Path(spec.submodule_search_locations[0]) / "model_configs"
    return None


def _wheel_config(name: str) -> tuple[dict, dict | None] | None:
    """The wheel's config for an exact `org/name`, read without scanning the whole folder."""
    folder = _wheel_folder()
    if folder is None or "/" not in name:
        return None
    f = folder / (name.replace("/", "--", 1) + "_config.json")
    if not f.is_file():
        return None
    qf = folder / (name.replace("/", "--", 1) + "_hf_quant_config.json")
    return read_json(f, f.name), read_json(qf, qf.name) if qf.is_file() else None


def _local_folder(name: str) -> Path | None:
    """`name` as a folder holding config.json, or None (a name too long for the OS is not a folder)."""
    try:
        path = Path(name).expanduser()
        return path if path.is_dir() and (path / "config.json").is_file() else None
    except (OSError, ValueError):
        return None


def _from_folder(typed: str, path: Path, parse=ModelArch.from_hf_config) -> ModelArch:
    """A local checkpoint: served from the folder as the user wrote it (`./x` stays a path to servers
    that would otherwise look `x` up on the hub), with `~` expanded since a launch may run unquoted."""
    label = f"{_short(str(path))}/config.json"
    cfg = read_json(path / "config.json", label)
    qf = path / "hf_quant_config.json"
    q = read_json(qf, label.replace("config.json", "hf_quant_config.json")) if qf.is_file() else None
    folder = str(path) if typed.startswith("~") else typed
    return parse(typed, cfg, q, checkpoint=folder, source=label)


def _short(text: str, limit: int = 60) -> str:
    """A path echoed in a message: its tail, bounded, on one line."""
    text = " ".join(text.split())
    return text if len(text) <= limit else "…" + text[-(limit - 1):]


def _suggest(name: str, names: list[str]) -> list[str]:
    import difflib

    key = _key(name)
    keys = {_key(n): n for n in names}
    return [keys[k] for k in difflib.get_close_matches(key, list(keys), n=3, cutoff=0.6)]
