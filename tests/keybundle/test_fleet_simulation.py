"""The fleet of clients, simulated (issues 11 and 19): tests/keybundle/fleet_sim.py's story
with 1,000 clients fetching the published packages from a real nginx on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
import requests

from tests.keybundle.fleet_sim import FLEETS, Fetch, Simulation, table
from tests.keybundle.nginx_packages import serve_packages

pytestmark = pytest.mark.timeout(180)

ATTACKS = (
    "rollback",
    "replay-other-fleet",
    "stale-cosignatures",
    "old-keys-after-rotation",
    "forged-chain-unlogged",
    "forged-chain-new-keys-only",
)


@pytest.fixture
def stack() -> Iterator[ExitStack]:
    with ExitStack() as s:
        yield s


def test_a_thousand_clients_accept_every_current_package_and_no_attack(
    tmp_path: Path, stack: ExitStack
) -> None:
    session = stack.enter_context(requests.Session())
    session.trust_env = False  # no proxy lookup per request: loopback only

    def serve(out: Path) -> Fetch:
        nginx = stack.enter_context(serve_packages(out, tmp_path / "nginx"))

        def fetch(path: str) -> bytes:
            response = session.get(f"{nginx.url}/{path}", timeout=10)
            response.raise_for_status()
            return response.content

        return fetch

    sim = Simulation(
        tmp_path / "sim", clients=1000, seed=20261207, serve=serve, memo=True, embedded_every=40
    )
    tally = sim.run()
    print("\n" + table(tally))

    assert tally.failures == []
    assert tally.attacks_accepted == []
    assert len(sim.clients) >= 999
    categories = {c.category for c in sim.clients}
    for app in (1, 2, 3):
        for start in ("fresh", "floor"):
            assert any(c.startswith(f"pin v{app}, {start}") for c in categories)
    for key, delivered in tally.delivered.items():
        assert tally.first[key] == tally.repeated[key] == delivered, key
    for fleet in FLEETS:
        assert sum(n for (_, f), n in tally.delivered.items() if f == fleet) >= 2000
    rejected = {name: 0 for name in ATTACKS}
    for (name, _), count in tally.attacks.items():
        rejected[name] += count
    assert rejected == {name: len(sim.clients) for name in ATTACKS}
    assert len(tally.stored_sizes) >= 8  # clients hold checkpoints of many sizes
    assert sum(c.embedded is not None for c in sim.clients) >= 20
