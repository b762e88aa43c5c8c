"""The fleet of clients, simulated (issues 11 and 19; SPEC §7.3, OPS §7.7).

One log carries three fleets through several epochs and two trust-root rotations, v1 -> v2
-> v3, each replacing both roles' keys, so that at times the fleets' current bundles are
signed under different roots. After each append the checkpoint is cosigned and the
publisher (:class:`keybundle.publisher.Publisher`) rewrites the universal packages, which a
real nginx serves (deploy/nginx/keybundle-packages.conf). Apps pinning v1, v2 and v3 are
released over time, each with a floor (an initial state made at release); clients install an
app (fresh, or from its floor), come online now and then (always, sometimes, or after weeks
offline) and fetch every fleet's package from nginx in a random order, then again in another
order: every delivery MUST be accepted, the second one leaving the state unchanged. At the
end every client is handed attack packages, which it MUST reject:

* ``rollback``: a fleet's older epoch, genuinely logged, re-proven under a fresh checkpoint;
* ``replay-other-fleet``: another fleet's current package where this fleet was asked for;
* ``stale-cosignatures``: the current package under a checkpoint cosigned two days ago;
* ``old-keys-after-rotation``: a bundle signed by the replaced v1 keys, logged (by a log that
  skips admission; witnesses cosign any consistent extension) after the rotation to v3;
* ``forged-chain-unlogged``: the chain's v3 entry re-signed (other bytes) and not logged;
* ``forged-chain-new-keys-only``: a logged v4 signed only by new (attacker) keys, with a
  bundle of those keys.

Time is a parameter (``now=``): weeks pass in milliseconds. A fraction of the clients use the
embedded :class:`keybundle.Client` (a locked state directory, atomic saves), every delivery
run for real; the others the pure decision (:func:`keybundle.client.verify_package`) on
in-memory states, the same code. The decision is a pure function of (pinned root, state,
package, now), so with ``memo`` the simulation decides each distinct input once and gives
every client in that same situation the same verdict (clients online at one checkpoint share
one ``now``): the default test's 1,000 clients then cost the distinct decisions only, while
bench/bench_fleet.py runs every delivery. Seeds make every run identical.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from keybundle import cose
from keybundle.client import verify_package
from keybundle.embedded import Client
from keybundle.errors import VerificationError
from keybundle.package import RotationEntry, build_package
from keybundle.publisher import Publisher, fleet_path, log_client_for
from keybundle.state import ClientState
from keybundle.trustroot import TrustRoot
from tests.keybundle.fleetlog import FleetLog
from tests.keybundle.world import DAY, INDEPENDENT_ORG, OPERATOR_ORG, role_signer
from transparency_log import note
from transparency_log.checkpoint import Checkpoint
from transparency_log.merkle import leaf_hash
from transparency_log.proof import MemoryHashStore, inclusion_proof, tree_root
from transparency_log.tlog_proof import TlogProof

FLEETS = ("alpha.vault", "beta.vault", "gamma.vault")
WEEK = 7 * DAY
HOUR = 3600

Fetch = Callable[[str], bytes]
"""Fetches a published path (``fleets/<id>.cbor``) and returns its bytes."""


@dataclass(frozen=True)
class Phase:
    """Appends at ``at`` (one checkpoint each, an hour apart), then maybe an app release."""

    name: str
    at: int
    actions: tuple[str, ...]
    """A fleet id (its next bundle under the current keys) or ``rotate``."""
    release: int | None = None
    """The trust-root version a new app pins from this phase on (its floor made now)."""


def phases(t0: int) -> list[Phase]:
    """The story: mixed roots at weeks 1 and 4, every fleet re-issued before an app pins the
    new root (a bundle logged before the root an app pins is not acceptable to that app)."""
    return [
        Phase("week 0: v1, epoch 1 everywhere", t0, FLEETS, release=1),
        Phase("week 1: rotate to v2, alpha re-issued", t0 + WEEK, ("rotate", "alpha.vault")),
        Phase(
            "week 2: beta, gamma re-issued under v2",
            t0 + 2 * WEEK,
            ("beta.vault", "gamma.vault"),
            release=2,
        ),
        Phase(
            "week 4: rotate to v3, alpha and beta",
            t0 + 4 * WEEK,
            ("alpha.vault", "rotate", "alpha.vault", "beta.vault"),
        ),
        Phase("week 6: gamma under v3", t0 + 6 * WEEK, ("gamma.vault",), release=3),
        Phase("week 8: more epochs", t0 + 8 * WEEK, ("alpha.vault", "beta.vault")),
        Phase("week 10: idle, re-cosigned", t0 + 10 * WEEK, ()),
    ]


@dataclass
class SimClient:
    """One device: the app version it runs (its pinned root), how it started, how often it
    comes online, and its state."""

    number: int
    app: int
    start: str
    pattern: str
    installed: int
    """The phase it was installed in."""
    state: ClientState = field(default_factory=ClientState)
    embedded: Client | None = None
    syncs: int = 0

    @property
    def category(self) -> str:
        return f"pin v{self.app}, {self.start}, {self.pattern}"


@dataclass
class Tally:
    """Deliveries per (category, fleet): accepted first time, accepted again, and failures."""

    first: Counter[tuple[str, str]] = field(default_factory=Counter)
    repeated: Counter[tuple[str, str]] = field(default_factory=Counter)
    delivered: Counter[tuple[str, str]] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    attacks: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(attack, reason) -> rejections."""
    attacks_accepted: list[str] = field(default_factory=list)
    stored_sizes: set[int] = field(default_factory=set)
    seconds: float = 0.0


class Simulation:
    """Runs the story of :func:`phases` for ``clients`` devices (module doc)."""

    def __init__(
        self,
        work: Path,
        *,
        clients: int,
        seed: int,
        embedded_every: int = 20,
        serve: Callable[[Path], Fetch] | None = None,
        memo: bool = False,
    ) -> None:
        self.work = work
        self.rng = random.Random(seed)
        self.fl = FleetLog(work / "log")
        self.t0 = self.fl.world.now
        self.phases = phases(self.t0)
        self.out = work / "packages"
        self.publisher = Publisher(
            log_client_for(self.fl.fetcher(), self.fl.roots[1]),
            self.fl.signed_roots[1],
            self.out,
            generation_grace=0,
        )
        self.count = clients
        self.embedded_every = embedded_every
        self.clients: list[SimClient] = []
        self.floors: dict[int, ClientState] = {}
        self.roots: dict[int, TrustRoot] = {}
        self.tally = Tally()
        self.current: dict[str, bytes] = {}
        self.fetch: Fetch = lambda path: (self.out / path).read_bytes()
        self._serve = serve
        self.memo: dict[tuple[int, bytes, bytes, int, str], ClientState | VerificationError] | None
        self.memo = {} if memo else None
        self._shared: dict[str, bytes] | None = None
        self.decisions = 0

    # -- the log and the publisher ----------------------------------------------------------

    def _publish(self, at: int) -> None:
        self.fl.cosign(at)
        self.publisher.publish()
        self._shared = None

    def _download(self, client: SimClient | None = None) -> dict[str, bytes]:
        """Every fleet's current package, fetched from the server.

        With ``memo``, clients on the pure path share one fetch per publication (as devices
        behind one CDN edge do): at 1,000 clients, a request each costs more than all the
        verifying. Embedded clients always fetch their own.
        """
        if self.memo is None or client is None or client.embedded is not None:
            return {fleet: self.fetch(fleet_path(fleet)) for fleet in FLEETS}
        if self._shared is None:
            self._shared = {fleet: self.fetch(fleet_path(fleet)) for fleet in FLEETS}
        return self._shared

    # -- clients ----------------------------------------------------------------------------

    def _install(self, phase: int, app: int) -> None:
        """This phase's new installs of app ``app`` (and of older apps still shipped)."""
        for _ in range(self.count // 3):
            number = len(self.clients)
            pinned_app = self.rng.choice([v for v in self.floors if v <= app])
            client = SimClient(
                number,
                pinned_app,
                self.rng.choice(("fresh", "floor")),
                self.rng.choice(("always", "sometimes", "offline for weeks")),
                phase,
            )
            root = self.roots[pinned_app]
            floor = self.floors[pinned_app] if client.start == "floor" else None
            if number % self.embedded_every == 0:
                state_dir = self.work / "clients" / str(number)
                state_dir.mkdir(parents=True)
                client.embedded = Client(
                    root, state_dir, floor=None if floor is None else floor.encode()
                )
            elif floor is not None:
                client.state = floor
            self.clients.append(client)

    def _online(self, client: SimClient, phase: int) -> bool:
        if client.pattern == "always":
            return True
        if client.pattern == "sometimes":
            return self.rng.random() < 0.5
        return phase == client.installed  # then offline for weeks, back at the end

    def _accept(self, client: SimClient, data: bytes, fleet: str, now: int) -> None:
        if client.embedded is not None:
            client.embedded.accept(data, now=now, fleet=fleet)
            return
        root = self.roots[client.app]
        key = (client.app, client.state.encode(), data, now, fleet)
        known = None if self.memo is None else self.memo.get(key)
        if known is None:
            self.decisions += 1
            try:
                known = verify_package(data, root, client.state, now, fleet=fleet).state
            except VerificationError as e:
                known = e
            if self.memo is not None:
                self.memo[key] = known
        if isinstance(known, VerificationError):
            raise known
        client.state = known

    def _state_of(self, client: SimClient) -> ClientState:
        return client.embedded.load() if client.embedded is not None else client.state

    def _sync(self, client: SimClient, now: int) -> None:
        """Fetch every fleet's package, deliver all in a random order, then again."""
        packages = self._download(client)
        for round_ in ("first", "repeated"):
            order = list(FLEETS)
            self.rng.shuffle(order)
            before = self._state_of(client) if round_ == "repeated" else None
            for fleet in order:
                key = (client.category, fleet)
                if round_ == "first":
                    self.tally.delivered[key] += 1
                try:
                    self._accept(client, packages[fleet], fleet, now)
                except VerificationError as e:
                    self.tally.failures.append(
                        f"client {client.number} ({client.category}), {round_} delivery of "
                        f"{fleet} at {(now - self.t0) / DAY:.1f} d: {e.reason}: {e.message}"
                    )
                    continue
                counter = self.tally.first if round_ == "first" else self.tally.repeated
                counter[key] += 1
            if before is not None and self._state_of(client) != before:
                self.tally.failures.append(
                    f"client {client.number}: the repeated delivery changed the state"
                )
        client.syncs += 1
        stored = self._state_of(client).checkpoint()
        if stored is not None:
            self.tally.stored_sizes.add(stored.size)

    # -- the story --------------------------------------------------------------------------

    def run(self) -> Tally:
        began = time.perf_counter()
        for p, phase in enumerate(self.phases):
            last = p == len(self.phases) - 1
            steps = list(phase.actions) or ["recosign"]
            at = phase.at
            for s, action in enumerate(steps):
                if action == "rotate":
                    self.fl.rotate()
                elif action != "recosign":
                    self.fl.add_bundle(action)
                at = phase.at + s * HOUR
                self._publish(at)
                if s == 0 and p == 0 and self._serve is not None:
                    self.fetch = self._serve(self.out)
                # Clients online in this phase sync at one of its checkpoints, chosen at
                # random, so their stored checkpoints have many sizes.
                for client in [] if last else self.clients:
                    due = client.installed < p and self.rng.randrange(len(steps)) == s
                    if due and self._online(client, p):
                        self._sync(client, at + HOUR // 2)
            if last:
                # Everyone comes back, at the final checkpoint, now.
                for client in self.clients:
                    self._sync(client, at + HOUR // 2)
            if phase.release is not None:
                self._release(phase.release, p, at)
        self._attack(at + HOUR)
        self.tally.seconds = time.perf_counter() - began
        return self.tally

    def _release(self, version: int, phase: int, at: int) -> None:
        """An app pinning ``version`` ships with a floor made from the current packages."""
        root = self.roots[version] = self.fl.pinned(version)
        state = ClientState()
        for data in self._download().values():
            state = verify_package(data, root, state, at).state
        self.floors[version] = state
        self._install(phase, version)
        for client in self.clients:
            if client.installed == phase:
                self._sync(client, at + HOUR // 2)

    # -- attacks ----------------------------------------------------------------------------

    def _forge(
        self,
        extra: list[bytes],
        bundle_index: int,
        cosign_at: int,
        chain: list[tuple[bytes, int]] | None = None,
    ) -> bytes:
        """A package under a checkpoint the log key and both witnesses signed, of the log's
        entries plus ``extra`` (a log that skipped admission: witnesses cosign any consistent
        extension)."""
        fl = self.fl
        entries = fl.world.entries + extra
        store = MemoryHashStore()
        for entry in entries:
            store.append(leaf_hash(entry))
        size = len(entries)
        body = Checkpoint(fl.world.log_signer.name, size, tree_root(size, store)).body()
        signed = note.sign(body, fl.world.log_signer)
        for witness in fl.world.witnesses:
            sig = witness.sign_at(body.encode(), cosign_at)
            signed += note.Signature(witness.name, witness.key_hash, sig).to_line()
        checkpoint = signed.encode()
        if chain is None:
            chain = [(fl.signed_roots[v], fl.rotation_index[v]) for v in (2, 3)]
        rotations = [
            RotationEntry(root, index, tuple(inclusion_proof(index, size, store)))
            for root, index in chain
        ]
        proof = TlogProof(
            bundle_index, tuple(inclusion_proof(bundle_index, size, store)), checkpoint
        )
        return build_package(entries[bundle_index], proof, rotations=rotations)

    def _attack_packages(self, now: int) -> list[tuple[str, str, bytes]]:
        """(name, fleet asked for, package) of each attack (module doc)."""
        fl = self.fl
        size = fl.world.size
        previous_alpha = fl.indices[("alpha.vault", fl.heads["alpha.vault"] - 1)]
        top = fl.heads["alpha.vault"]
        latest_alpha = fl.indices[("alpha.vault", top)]
        old_keys = fl.bundle("alpha.vault", version=1)
        attacker_independent = role_signer("attacker independent")
        attacker_operator = role_signer("attacker operator")
        v4 = fl.world.make_root(
            4,
            independent=[(INDEPENDENT_ORG, attacker_independent)],
            operator=[(OPERATOR_ORG, attacker_operator)],
        )
        v4_signed = fl.world.sign_root(v4, [attacker_independent, attacker_operator])
        attacker_bundle = cose.countersign(
            cose.sign1(
                fl.world.bundle("alpha.vault", top + 1, previous=fl.digests[("alpha.vault", top)]),
                attacker_independent,
            ),
            attacker_operator,
        )
        v3_resigned = fl.world.sign_root(fl.roots[3], list(fl.keys[3]))  # other signatures
        current = self._download()
        return [
            ("rollback", "alpha.vault", self._forge([], previous_alpha, now)),
            ("replay-other-fleet", "alpha.vault", current["beta.vault"]),
            ("stale-cosignatures", "alpha.vault", self._forge([], latest_alpha, now - 2 * DAY)),
            ("old-keys-after-rotation", "alpha.vault", self._forge([old_keys], size, now)),
            (
                "forged-chain-unlogged",
                "alpha.vault",
                self._forge(
                    [],
                    latest_alpha,
                    now,
                    chain=[
                        (fl.signed_roots[2], fl.rotation_index[2]),
                        (v3_resigned, fl.rotation_index[3]),
                    ],
                ),
            ),
            (
                "forged-chain-new-keys-only",
                "alpha.vault",
                self._forge(
                    [v4_signed, attacker_bundle],
                    size + 1,
                    now,
                    chain=[
                        (fl.signed_roots[2], fl.rotation_index[2]),
                        (fl.signed_roots[3], fl.rotation_index[3]),
                        (v4_signed, size),
                    ],
                ),
            ),
        ]

    def _attack(self, now: int) -> None:
        attacks = self._attack_packages(now)
        for client in self.clients:
            before = self._state_of(client)
            for name, fleet, data in attacks:
                try:
                    self._accept(client, data, fleet, now)
                except VerificationError as e:
                    self.tally.attacks[(name, e.reason)] += 1
                    continue
                self.tally.attacks_accepted.append(f"{name} by client {client.number}")
            if self._state_of(client) != before:
                self.tally.failures.append(f"client {client.number}: an attack changed its state")


def table(tally: Tally) -> str:
    """The report: categories x fleets (accepted first / repeated of delivered), attacks."""
    categories = sorted({c for c, _ in tally.delivered})
    width = max(len(c) for c in categories)
    lines = [f"{'client category':<{width}}  " + "  ".join(f"{f:>22}" for f in FLEETS)]
    for category in categories:
        cells = []
        for fleet in FLEETS:
            key = (category, fleet)
            cells.append(
                f"{tally.first[key]:>5}/{tally.repeated[key]:>5} of {tally.delivered[key]:>5}"
            )
        lines.append(f"{category:<{width}}  " + "  ".join(f"{c:>22}" for c in cells))
    lines.append("(accepted on first delivery / on repeated delivery, of deliveries)")
    lines.append("attacks rejected (attack, reason: count):")
    for (name, reason), count in sorted(tally.attacks.items()):
        lines.append(f"  {name}, {reason}: {count}")
    lines.append(f"attacks accepted: {len(tally.attacks_accepted)}")
    lines.append(f"distinct stored checkpoint sizes: {sorted(tally.stored_sizes)}")
    lines.append(f"failures: {len(tally.failures)}")
    lines.extend(f"  {f}" for f in tally.failures[:10])
    return "\n".join(lines)
