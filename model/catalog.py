"""Find a model's architecture offline: a local folder, our catalog, or the configs aiconfigurator-core ships.

Users type names many ways (`meta-llama/Llama-3.1-70B`, `meta-llama/Meta-Llama-3.1-70B`,
`Llama-3.1-70B-Instruct`); all of those describe one architecture. We normalize spelling and drop
suffixes that do not change the shape (`-Instruct`, `-Chat`, `-Base`), but never a quantization
suffix (`-FP8`, `-NVFP4`): those change the checkpoint format, which matters for memory and speed.
"""
from __future__ import annotations

import importlib.util
import json
import re
from functools import lru_cache
from pathlib import Path

from .arch import ModelArch, UnsupportedModel

_CATALOG = Path(__file__).parent / "catalog" / "models.yaml"
_SHAPE_SUFFIXES = re.compile(r"-(instruct|chat|base|it|hf)(?=-|$)")
_QUANT_SUFFIX = re.compile(r"-(fp8|nvfp4|fp4)(-.*)?$")


class UnknownModel(ValueError):
    field = "model"

    def __init__(self, name: str, suggestions: list[str]):
        self.accepted = suggestions
        hint = f"; did you mean: {', '.join(suggestions)}" if suggestions else "; see `sloplan models`"
        super().__init__(f"model: unknown model '{name}' (not a folder with config.json, not in the catalog){hint}")


def _key(name: str) -> str:
    """Spelling-insensitive key: lowercase, no org, no 'meta-' prefix, no shape-neutral suffixes."""
    base = name.strip().rstrip("/").split("/")[-1].lower().replace("_", "-")
    base = base.removeprefix("meta-")
    return _SHAPE_SUFFIXES.sub("", base)


@lru_cache(maxsize=1)
def _ours() -> dict[str, tuple[dict, dict | None]]:
    """Our own catalog (small; read first so common names resolve without touching the wheel)."""
    import yaml

    with open(_CATALOG) as fh:
        return {name: (cfg, None) for name, cfg in yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)).items()}


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
            entries[name] = (json.loads(f.read_text()), json.loads(qf.read_text()) if qf.exists() else None)
    entries.update(_ours())
    return entries


def list_models(dense_only: bool = True) -> list[str]:
    """Catalog names, optionally only those this release can estimate."""
    out = []
    for name, (cfg, q) in _entries().items():
        try:
            ModelArch.from_hf_config(name, cfg, q)
        except (UnsupportedModel, KeyError, TypeError, ValueError):
            if dense_only:
                continue
        out.append(name)
    return sorted(out)


def resolve_model(name: str) -> ModelArch:
    """A path to a folder with config.json, an exact catalog name, or a spelling variant of one."""
    path = Path(name).expanduser()
    if path.is_dir() and (path / "config.json").is_file():
        return _from_folder(path)
    ours = _ours()
    if name in ours:
        return ModelArch.from_hf_config(name, *ours[name])
    shipped = _wheel_config(name)
    if shipped:
        return ModelArch.from_hf_config(name, *shipped)
    for pool in (ours, _entries()):  # spelling variants: our catalog first, it is small
        canon = _by_key(tuple(pool)).get(_key(name))
        if canon:
            return ModelArch.from_hf_config(name, *pool[canon])
    raise UnknownModel(name, _suggest(name, list(_entries())))


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
    return json.loads(f.read_text()), json.loads(qf.read_text()) if qf.is_file() else None


def _from_folder(path: Path) -> ModelArch:
    try:
        cfg = json.loads((path / "config.json").read_text())
        qf = path / "hf_quant_config.json"
        q = json.loads(qf.read_text()) if qf.is_file() else None
    except (OSError, ValueError) as exc:
        raise UnknownModel(str(path), []) from exc
    try:
        return ModelArch.from_hf_config(str(path), cfg, q)
    except KeyError as exc:
        raise UnsupportedModel(f"model: {path}/config.json lacks {exc.args[0]}") from exc


def _suggest(name: str, names: list[str]) -> list[str]:
    import difflib

    key = _key(name)
    keys = {_key(n): n for n in names}
    return [keys[k] for k in difflib.get_close_matches(key, list(keys), n=3, cutoff=0.6)]
