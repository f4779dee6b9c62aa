"""Running sloplan's CLI in process, shared by the tests that check what a user sees on stdout / stderr."""
from __future__ import annotations

import sys

from sloplan import cli


def cli_run(capsys, *args) -> tuple[int, str, str]:
    """sloplan's real entry point (cli.main, what the console script calls), in process for speed:
    (exit code, stdout, stderr)."""
    argv, sys.argv = sys.argv, ["sloplan", *map(str, args)]
    try:
        cli.main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = argv
    out, err = capsys.readouterr()
    return code, out, err
