"""Published packages behind a real nginx (deploy/nginx/keybundle-packages.conf, OPS §7.7)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from keybundle.client import verify_package
from keybundle.publisher import INDEX_FILE, STATE_FILE, Publisher, fleet_path, log_client_for
from keybundle.state import ClientState
from tests.keybundle.fleetlog import FleetLog
from tests.keybundle.nginx_packages import serve_packages

pytestmark = pytest.mark.timeout(120)

FLEETS = ("a.vault", "b.vault", "c.vault")


def test_nginx_serves_each_fleets_current_package_with_short_lived_cache_headers(
    tmp_path: Path,
) -> None:
    fl = FleetLog(tmp_path / "log")
    fl.rotate()
    for fleet in FLEETS:
        fl.add_bundle(fleet)
    fl.cosign()
    out = tmp_path / "out"
    publisher = Publisher(
        log_client_for(fl.fetcher(), fl.roots[1]), fl.signed_roots[1], out, generation_grace=0
    )
    publisher.publish()
    with serve_packages(out, tmp_path / "nginx") as nginx, requests.Session() as session:
        url = nginx.url
        r = session.get(f"{url}/{INDEX_FILE}", timeout=10)
        assert r.status_code == 200
        assert r.headers["Content-Type"] == "application/json"
        assert r.headers["Cache-Control"] == "no-cache"
        assert "ETag" not in r.headers
        index = r.json()
        assert [f["fleet"] for f in index["fleets"]] == list(FLEETS)
        for entry in index["fleets"]:
            r = session.get(f"{url}/{entry['path']}", timeout=10)
            assert r.status_code == 200
            assert r.headers["Content-Type"] == "application/cbor"
            assert r.headers["Cache-Control"] == "public, max-age=300"
            assert "ETag" not in r.headers
            assert r.content == (out / fleet_path(entry["fleet"])).read_bytes()
            assert verify_package(r.content, fl.pinned(1), ClientState(), fl.world.now)

        # A re-cosigned checkpoint is republished and served at once (same length, same
        # second: no validator may keep the old one).
        before = session.get(f"{url}/{fleet_path('a.vault')}", timeout=10).content
        fl.cosign(fl.world.now + 1)
        assert publisher.publish().changed
        after = session.get(f"{url}/{fleet_path('a.vault')}", timeout=10)
        assert after.content != before
        assert len(after.content) == len(before)
        assert json.loads(session.get(f"{url}/{INDEX_FILE}", timeout=10).content) != index

        (out / "fleets" / ".a.vault.cbor.0123.tmp").write_bytes(b"partial")
        for path in (
            f"/{STATE_FILE}",
            "/.fleets-a/a.vault.cbor",
            "/.fleets-b/a.vault.cbor",
            "/fleets/.a.vault.cbor.0123.tmp",
            "/fleets/",
            "/fleets/A.cbor",
            "/fleets/a.vault.cbor/",
            "/",
            "/log/checkpoint",
        ):
            r = session.get(url + path, timeout=10, allow_redirects=False)
            assert r.status_code == 404, path
        r = session.post(f"{url}/{fleet_path('a.vault')}", data=b"x", timeout=10)
        assert r.status_code in (403, 405)
