"""nginx serving a published packages directory with deploy/nginx/keybundle-packages.conf.

The harness of tests/transparency_log/test_nginx.py (nginx installed or skipped, its own
prefix on 127.0.0.1), run with the packages configuration: only its "site:" lines are
rewritten.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

from tests.transparency_log.test_nginx import Nginx, _nginx_binary, _stop, start_nginx_site

REPO = Path(__file__).resolve().parents[2]
PACKAGES_CONF = REPO / "deploy" / "nginx" / "keybundle-packages.conf"


def packages_site(listen_port: int, root: Path) -> str:
    """deploy/nginx/keybundle-packages.conf with its two "site:" lines rewritten."""
    text = PACKAGES_CONF.read_text(encoding="utf-8")
    replacements = {
        r"listen 8082;  # site:": f"listen 127.0.0.1:{listen_port};  # site:",
        r"root /var/lib/keybundle/packages;  # site:": f"root {root};  # site:",
    }
    for pattern, replacement in replacements.items():
        text, count = re.subn(pattern, replacement, text)
        if count != 1:
            raise AssertionError(f"the packages config no longer has the line {pattern!r}")
    return text


@contextlib.contextmanager
def serve_packages(root: Path, prefix: Path) -> Iterator[Nginx]:
    """nginx on 127.0.0.1 serving ``root`` (skips the test when nginx is unavailable)."""
    nginx = start_nginx_site(_nginx_binary(), prefix, lambda port: packages_site(port, root))
    try:
        yield nginx
    finally:
        _stop(nginx)
