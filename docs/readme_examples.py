"""Regenerate the outputs shown in README.md from the commands next to them, so they cannot drift.

    python docs/readme_examples.py           # rewrite README.md in place
    python docs/readme_examples.py --check   # exit 1 and print a diff when README.md is stale

Three kinds of marked fenced block (the marker is an HTML comment on the line before the fence):

* ``<!-- run: CMD -->`` – the block is the output of the shell command CMD (stdout and stderr as a
  terminal shows them), followed by ``(exit code N)`` when N is not 0.
* ``<!-- run -->`` – the block holds ``$ CMD`` lines; the lines after each are its output. Lines
  starting with ``# `` right after an output are the author's notes and are kept.
* ``<!-- run-python -->`` – a Python block; lines starting with ``# `` at column 0 are output. Each
  top-level statement runs in turn and what it prints follows it as ``# `` lines.

Commands run from the project root in a fixed 120-column terminal, so rich's tables keep their
shape. Wall-clock timings in outputs ("0.05 s") differ run to run; --check ignores them.
"""
from __future__ import annotations

import ast
import contextlib
import difflib
import io
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARKER = re.compile(r"^<!-- (run(?:-python)?)(?::\s*(.*?))?\s*-->$")
TIMING = re.compile(r"\d+\.\d+ s\b")
WIDTH = 120


def _env() -> dict[str, str]:
    bindir = str(Path(sys.executable).parent)
    return {**os.environ, "COLUMNS": str(WIDTH), "TERM": "dumb", "PATH": f"{bindir}:{os.environ.get('PATH', '')}"}


def shell_output(cmd: str) -> list[str]:
    """The lines a terminal would show for `cmd`, plus its exit code when it is not 0."""
    done = subprocess.run(["bash", "-c", cmd], cwd=ROOT, env=_env(), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=300)
    lines = [line.rstrip() for line in done.stdout.rstrip("\n").splitlines()]
    return lines + ([f"(exit code {done.returncode})"] if done.returncode else [])


def shell_session(body: list[str]) -> list[str]:
    """`$ CMD` lines with fresh output after each; the author's `# ` notes after an output stay."""
    out: list[str] = []
    cmds: list[tuple[str, list[str]]] = []
    for line in body:
        if line.startswith("$ "):
            cmds.append((line, []))
        elif cmds and line.startswith("# "):
            cmds[-1][1].append(line)
    for i, (cmd, notes) in enumerate(cmds):
        out += ([""] if i else []) + [cmd] + shell_output(cmd[2:]) + notes
    return out


def python_session(body: list[str]) -> list[str]:
    """Run a Python block statement by statement; each statement's printout follows it as `# ` lines."""
    code = [line for line in body if not line.startswith("# ")]
    src = "\n".join(code)
    tree = ast.parse(src)
    scope: dict = {"__name__": "__readme__"}
    out: list[str] = []
    pos = 0  # code lines up to here are emitted; blank lines and notes between statements go with the next
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        for node in tree.body:
            out += code[pos:node.end_lineno]
            pos = node.end_lineno
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                exec(compile(ast.Module([node], []), "<README>", "exec"), scope)
            for printed in buf.getvalue().rstrip("\n").splitlines():
                wrapped = textwrap.wrap(printed, WIDTH - 4, subsequent_indent="  ", break_on_hyphens=False)
                out += [f"# {w}" for w in wrapped or [""]]
    finally:
        os.chdir(cwd)
    return out + code[pos:]


def regenerate(text: str) -> str:
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        out.append(lines[i])
        m = MARKER.match(lines[i].strip())
        if not m or i + 1 >= len(lines) or not lines[i + 1].startswith("```"):
            i += 1
            continue
        end = next(j for j in range(i + 2, len(lines)) if lines[j].startswith("```"))
        body = lines[i + 2:end]
        kind, cmd = m.groups()
        new = python_session(body) if kind == "run-python" else shell_output(cmd) if cmd else shell_session(body)
        out += [lines[i + 1], *new, lines[end]]
        i = end + 1
    return "\n".join(out)


def main(argv: list[str]) -> int:
    unknown = [a for a in argv if a != "--check"]
    if unknown:  # --help included: print the usage, never rewrite the README on a flag we do not know
        asked = unknown in (["--help"], ["-h"])
        print(__doc__.strip(), file=sys.stdout if asked else sys.stderr)
        return 0 if asked else 2
    readme = ROOT / "README.md"
    old = readme.read_text()
    new = regenerate(old)
    if "--check" in argv:
        a, b = TIMING.sub("<t> s", old).splitlines(), TIMING.sub("<t> s", new).splitlines()
        diff = list(difflib.unified_diff(a, b, "README.md", "regenerated", lineterm=""))
        print("\n".join(diff) if diff else "README.md examples are current")
        return 1 if diff else 0
    readme.write_text(new)
    print(f"README.md: {sum(1 for line in old.splitlines() if MARKER.match(line.strip()))} example blocks regenerated")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
