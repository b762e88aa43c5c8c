"""nginx serving a published packages directory with deploy/nginx/keybundle-packages.conf.

The harness of tests/transparency_log/test_nginx.py (nginx installed or skipped, its own
prefix on 127.0.0.1), run with the packages configuration: only its "site:" lines are
rewritten.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from tests.transparency_log.test_nginx import Nginx, _free_port, _nginx_binary, _stop

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
    binary = _nginx_binary()
    for d in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (prefix / d).mkdir(parents=True, exist_ok=True)
    last_error = ""
    for _ in range(3):  # the free port may be taken between probing and binding
        port = _free_port()
        (prefix / "site.conf").write_text(packages_site(port, root), encoding="utf-8")
        user = "user root root;\n" if os.geteuid() == 0 else ""
        (prefix / "nginx.conf").write_text(
            f"{user}worker_processes 1;\n"
            f"error_log {prefix}/error.log warn;\n"
            "events { worker_connections 256; }\n"
            "http {\n"
            "    access_log off;\n"
            f"    client_body_temp_path {prefix}/body;\n"
            f"    proxy_temp_path {prefix}/proxy;\n"
            f"    fastcgi_temp_path {prefix}/fastcgi;\n"
            f"    uwsgi_temp_path {prefix}/uwsgi;\n"
            f"    scgi_temp_path {prefix}/scgi;\n"
            f"    include {prefix}/site.conf;\n"
            "}\n",
            encoding="utf-8",
        )
        process = subprocess.Popen(
            [
                binary,
                "-p",
                str(prefix),
                "-c",
                str(prefix / "nginx.conf"),
                "-g",
                f"daemon off; pid {prefix}/nginx.pid;",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        nginx = Nginx(process, port, prefix)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.05)
        else:
            _stop(nginx)
            stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
            last_error = stderr + nginx.error_log()
            continue
        try:
            yield nginx
        finally:
            _stop(nginx)
        return
    raise AssertionError(f"nginx did not start: {last_error}")
