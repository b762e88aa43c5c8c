"""deploy/nginx/keybundle-log.conf beside Debian's ``default`` site, as people install it.

Debian's own nginx layout (``/etc/nginx``: nginx.conf, mime.types, modules-enabled,
conf.d, sites-available/default enabled as the ``default_server`` on port 80) is copied to a
temporary directory, its absolute paths and port 80 rewritten to the copy and a free
loopback port, and the log's site installed in its ``sites-enabled``, exactly as README
says. Requests that name the log's host reach the log; others reach Debian's default site;
and the site without its ``server_name`` shows the failure it fixes (every path 404 while
``nginx -t`` passes). Skipped where Debian's nginx layout is not installed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests

from transparency_log import note
from transparency_log.appender import Log
from transparency_log.storage import DirectoryTileStore

from .test_nginx import Nginx, _free_port, _nginx_binary, _stop, site_config

pytestmark = pytest.mark.timeout(60)

DEBIAN = Path("/etc/nginx")
HOST = "log.example.org"
ORIGIN = "example.com/debian-nginx-log"
SIGNER = note.Ed25519Signer(ORIGIN, b"\x43" * 32)


def _debian_layout() -> Path:
    default = DEBIAN / "sites-available" / "default"
    if not (DEBIAN / "nginx.conf").is_file() or not default.is_file():
        pytest.skip("Debian's nginx layout (/etc/nginx, nginx-common) is not installed")
    if "default_server" not in default.read_text(encoding="utf-8", errors="replace"):
        pytest.skip("/etc/nginx/sites-available/default is not Debian's default site")
    return DEBIAN


def _install(prefix: Path, port: int, log_root: Path, *, server_name: bool) -> Path:
    """Copy Debian's layout to ``prefix/etc``, point it at ``prefix``, enable the log's site."""
    etc = prefix / "etc"
    shutil.copytree(_debian_layout(), etc, symlinks=False)  # links become files
    for d in ("body", "proxy", "fastcgi", "uwsgi", "scgi", "log"):
        (prefix / d).mkdir(parents=True, exist_ok=True)
    # Debian's load_module lines name "modules/...", relative to its prefix /usr/share/nginx.
    if Path("/usr/share/nginx/modules").is_dir():
        (prefix / "modules").symlink_to("/usr/share/nginx/modules")
    main = (etc / "nginx.conf").read_text(encoding="utf-8")
    main = main.replace("/etc/nginx/", f"{etc}/")
    main = re.sub(r"(?m)^user .*;$", "user root root;" if os.geteuid() == 0 else "", main)
    main = re.sub(r"(?m)^pid .*;$", f"pid {prefix}/nginx.pid;", main)
    main = re.sub(r"(?m)^(\s*)(error_log|access_log) /var/log/nginx/", rf"\1\2 {prefix}/log/", main)
    temporary = {"client_body": "body", "proxy": "proxy", "fastcgi": "fastcgi",
                 "uwsgi": "uwsgi", "scgi": "scgi"}  # fmt: skip
    paths = "".join(f"    {k}_temp_path {prefix}/{d};\n" for k, d in temporary.items())
    main = main.replace("http {", "http {\n" + paths, 1)
    (etc / "nginx.conf").write_text(main, encoding="utf-8")
    # Debian's default site, on the same port as the log's: both "port 80".
    default = (etc / "sites-enabled" / "default").read_text(encoding="utf-8")
    default, count = re.subn(
        r"(?m)^\s*listen 80 default_server;", f"\tlisten 127.0.0.1:{port} default_server;", default
    )
    assert count == 1, "Debian's default site no longer listens on port 80 as default_server"
    default = re.sub(r"(?m)^\s*listen \[::\]:80 default_server;\n", "", default)
    (etc / "sites-enabled" / "default").write_text(default, encoding="utf-8")
    site = site_config(port, log_root, _free_port())
    if not server_name:
        site, count = re.subn(r"(?m)^    server_name .*# site:.*\n", "", site)
        assert count == 1
    (etc / "sites-enabled" / "keybundle-log").write_text(site, encoding="utf-8")
    return etc / "nginx.conf"


def _run(binary: str, prefix: Path, conf: Path, port: int) -> Nginx:
    checked = subprocess.run(
        [binary, "-t", "-p", str(prefix), "-c", str(conf)],
        capture_output=True, text=True, timeout=20, check=False,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr
    process = subprocess.Popen(
        [binary, "-p", str(prefix), "-c", str(conf), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    nginx = Nginx(process, port, prefix)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and process.poll() is None:
        try:
            requests.get(nginx.url, timeout=1)
        except requests.ConnectionError:
            time.sleep(0.05)
        else:
            return nginx
    _stop(nginx)
    raise AssertionError(f"nginx did not start: {nginx.error_log()}")


def _log(root: Path) -> bytes:
    with Log.open(
        DirectoryTileStore(root, fsync=False), root / ".state", origin=ORIGIN, signer=SIGNER,
        verifier=SIGNER.verifier(), fsync=False, batch_max_age=0.01,
    ) as log:  # fmt: skip
        log.add_many([b"served beside Debian's default site"])
    return (root / "checkpoint").read_bytes()


@pytest.mark.parametrize("server_name", [True, False], ids=["as-shipped", "without-server_name"])
def test_the_site_works_beside_debians_default_site(tmp_path: Path, server_name: bool) -> None:
    binary = _nginx_binary()
    checkpoint = _log(tmp_path / "log")
    port = _free_port()
    conf = _install(tmp_path / "nginx", port, tmp_path / "log", server_name=server_name)
    nginx = _run(binary, tmp_path / "nginx", conf, port)
    try:
        ours = requests.get(f"{nginx.url}/checkpoint", headers={"Host": HOST}, timeout=5)
        other = requests.get(f"{nginx.url}/checkpoint", headers={"Host": "else.example"},
                             timeout=5)  # fmt: skip
    finally:
        _stop(nginx)
    assert other.status_code == 404  # Debian's default site answers other names
    if server_name:
        assert ours.status_code == 200, nginx.error_log()
        assert ours.content == checkpoint
        assert ours.headers["Content-Type"] == "text/plain; charset=utf-8"
    else:  # the shipped site before the fix: nginx -t passed, and yet...
        assert ours.status_code == 404
