"""The fleet of clients, simulated at length (issues 11 and 19; SPEC §7.3, OPS §7.7).

    .venv/bin/python bench/bench_fleet.py [--clients N] [--seed S] [--memo] [--no-nginx]
                                          [--embedded-every K]

Runs the story of tests/keybundle/fleet_sim.py (three fleets, v1 -> v2 -> v3 with key
replacement, apps pinning each version with their floors, clients online always, sometimes or
after weeks offline, six attacks) with N clients (default 3,000), every delivery decided for
real (no ``--memo``) and every client fetching its own packages from a real nginx serving the
publisher's directory (deploy/nginx/keybundle-packages.conf), unless ``--no-nginx`` (then
from the directory). Prints the table of categories x fleets (accepted on first / repeated
delivery), the attack rejections by reason, and the time taken.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests

from tests.keybundle.fleet_sim import Fetch, Simulation, table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=20261207)
    parser.add_argument("--memo", action="store_true", help="decide each distinct input once")
    parser.add_argument("--no-nginx", action="store_true", help="read the directory instead")
    parser.add_argument("--embedded-every", type=int, default=20)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
    try:
        with ExitStack() as stack:
            serve: Callable[[Path], Fetch] | None = None
            if not args.no_nginx and (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()):
                from tests.keybundle.nginx_packages import serve_packages

                session = stack.enter_context(requests.Session())
                session.trust_env = False

                def serve_nginx(out: Path) -> Fetch:
                    nginx = stack.enter_context(serve_packages(out, work / "nginx"))

                    def fetch(path: str) -> bytes:
                        response = session.get(f"{nginx.url}/{path}", timeout=10)
                        response.raise_for_status()
                        return response.content

                    return fetch

                serve = serve_nginx

            began = time.perf_counter()
            sim = Simulation(
                work / "sim",
                clients=args.clients,
                seed=args.seed,
                serve=serve,
                memo=args.memo,
                embedded_every=args.embedded_every,
            )
            tally = sim.run()
            print(table(tally))
            embedded = sum(c.embedded is not None for c in sim.clients)
            print(
                f"{len(sim.clients)} clients ({embedded} embedded), {sim.decisions} pure "
                f"decisions, served by {'the directory' if serve is None else 'nginx'}, "
                f"{time.perf_counter() - began:.1f} s"
            )
            return 1 if tally.failures or tally.attacks_accepted else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
