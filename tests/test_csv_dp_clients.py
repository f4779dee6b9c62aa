"""Rule 7 of sloplan/csv_layout.py on the development split: wherever a row records attention_dp_size > 1
and its silicon_data_source records the benchmark's client count (`silicon_concurrency=N`), the row is read
with exactly N clients (batch_size per DP rank), whatever the layout convention; rows without attention
DP keep batch_size."""
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import accuracy  # noqa: E402

from sloplan.estimate_rows import ROW_ERRORS, parse_noted  # noqa: E402

CLIENTS = re.compile(r"silicon_concurrency=(\d+)")


def test_recorded_client_counts_are_what_attention_dp_rows_run():
    _, dense, moe = accuracy.load_dev_agg(accuracy.silicon_csv_path())
    checked = {True: 0, False: 0}
    for row in dense + moe:
        m = CLIENTS.search(row.get("silicon_data_source") or "")
        dp = int(float(row.get("attention_dp_size") or 0))
        try:
            args, _ = parse_noted(row)
        except ROW_ERRORS:
            continue
        if m and dp > 1:
            assert args.concurrency == int(m.group(1)), row["id"]
            checked[True] += 1
        elif dp <= 1:
            assert args.concurrency == int(row["batch_size"]), row["id"]
            checked[False] += 1
    assert checked[True] >= 100 and checked[False] >= 2000  # both kinds are there to check
