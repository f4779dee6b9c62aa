"""The compiled code of dataclass-generated methods, kept on disk between processes (`__pycache__` for them).

Why: `@dataclass` writes each class's `__init__`, `__repr__`, `__eq__`, `__hash__`, and for a frozen one
`__setattr__`/`__delattr__`, as source text and compiles it with `exec`, every process, and Python's
bytecode cache covers modules, not such generated code. A warm quick-start solve creates 158 dataclasses
(99 of them sloplan's, the rest pydantic's, annotated_types', typer's and rich's): ~820 compiles, 76-90 ms
CPU on a loaded 2-core machine, more than any single step of the solve itself (bench/startup_ledger.py).

How: the dataclasses module calls `exec(text, globals, ns)` by its global name, so a module attribute
`dataclasses.exec` shadows the builtin for that module's code alone. The one installed here compiles each
text once, exactly as `exec` compiles a string there (file name "<string>", no inherited __future__ flags:
`dont_inherit=True`), keeps the code object under the text's SHA-256, and runs that code with the same
globals and namespace. The methods are therefore the very ones the stdlib would have made; only the
compile is skipped. New code is written back at exit (atomically, in marshal's format for this
interpreter, whose cache tag names the file); a file that does not load is ignored and rewritten.

Installed only by the console script (sloplan/command.py): a program using sloplan as a library keeps its
interpreter as it was. The file is trusted as `__pycache__` is: it lives in the user's own cache folder.
"""
from __future__ import annotations

import atexit
import builtins
import hashlib
import marshal
import os
import sys
import types
from pathlib import Path

_FILE_NAME = f"dataclass-methods-{sys.implementation.cache_tag}.marshal"
_MAX_CODES = 4_000  # a solve makes ~800 (600 KB); beyond this, stale classes of old versions: restart the file


class MethodCache:
    """text digest → code object, loaded from `path`; `run` is the `exec` the dataclasses module calls."""

    def __init__(self, path: Path):
        self.path = path
        self.codes: dict[bytes, object] = _read(path)
        self.added = 0

    def run(self, source, globals=None, locals=None, /, **kw):
        """`exec(source, globals, locals)`, from cached code when `source` is a text seen before."""
        if not isinstance(source, str) or kw:
            return builtins.exec(source, globals, locals, **kw)
        key = hashlib.sha256(source.encode()).digest()
        code = self.codes.get(key)
        if code is None:
            code = self.codes[key] = compile(source, "<string>", "exec", dont_inherit=True)
            self.added += 1
        return builtins.exec(code, globals, locals)

    def save(self) -> None:
        """Write the codes when any were added (merged with what another process wrote meanwhile);
        failures only cost the compiles next time."""
        if not self.added:
            return
        codes = {**_read(self.path), **self.codes}
        if len(codes) > _MAX_CODES:  # old versions' classes pile up: keep what this process used
            codes = self.codes
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(marshal.dumps(codes))
            os.replace(tmp, self.path)
        except OSError:
            try:
                tmp.unlink()
            except OSError:
                pass


def _read(path: Path) -> dict:
    """The codes in `path`; {} when absent, unreadable or not a marshal of digest → code."""
    try:
        codes = marshal.loads(path.read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        return {}
    if not isinstance(codes, dict) or not all(isinstance(k, bytes) and isinstance(v, types.CodeType)
                                              for k, v in codes.items()):
        return {}
    return codes


def install() -> MethodCache:
    """Put the cache in front of the dataclasses module's `exec` for this process, saved at exit."""
    import dataclasses

    from sloplan.core.cache_folder import cache_dir

    cache = MethodCache(cache_dir() / _FILE_NAME)
    dataclasses.exec = cache.run
    atexit.register(cache.save)
    return cache
