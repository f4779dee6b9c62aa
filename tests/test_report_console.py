"""The report console prints data as written: `:name:` runs (model ids, `host:port` lists) are not emoji codes."""
from sloplan.report import console


def test_colon_runs_are_printed_as_written():
    with console.capture() as cap:
        console.print("org/model:smile: on localhost:8001:thumbs_up: [bold]best[/]")
    assert cap.get() == "org/model:smile: on localhost:8001:thumbs_up: best\n"  # markup still styles
