"""Regenerate docs/monitor-report.png, the README's screenshot of ``keybundle monitor report``.

Builds the example week of tests/cli/test_monitor_report.py in a temporary directory, writes
its report and has Debian's headless ``chromium`` take the screenshot. Run from the
repository root: ``.venv/bin/python scripts/report_screenshot.py``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.cli.test_monitor_report import make_report

OUT = Path("docs/monitor-report.png")


def main() -> int:
    browser = shutil.which("chromium")
    if browser is None:
        print("needs chromium (apt-get install chromium)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        _, _, report = make_report(Path(tmp))
        subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             f"--user-data-dir={tmp}/profile", f"--screenshot={OUT.resolve()}",
             "--window-size=1200,1500", (report / "index.html").as_uri()],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
    print(OUT)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
