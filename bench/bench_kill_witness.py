"""The long variant of tests/transparency_log/test_witness_crash.py (OPS §6.2, §6.5.3).

    .venv/bin/python bench/bench_kill_witness.py [--trials N] [--seed S]

kill -9 of a log at random instants under load, with a real ``keybundle witness serve``
process on 127.0.0.1: after all the kills the witness must still cosign the log's checkpoint,
every tree the log published or the witness held must be in the final log, one root per
size, and every acknowledged entry must be at its index. Prints the number of trials and of
distinct checkpoints checked. Run from the repository's top.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.transparency_log.witness_kill import run_kill_trials


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--seed", type=int, default=20261207)
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="kill-witness-") as tmp:
        report = run_kill_trials(Path(tmp), args.trials, args.seed)
    print(
        f"{report.trials} kill -9 trials, {report.checkpoints} distinct checkpoints checked "
        f"(published or held by the witness), {report.acknowledged} acknowledged entries: "
        f"no violation ({time.monotonic() - started:.0f} s)"
    )


if __name__ == "__main__":
    main()
