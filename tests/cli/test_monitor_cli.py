"""``keybundle monitor`` and ``keybundle evidence verify`` (OPS §8.3, CLI §10): exit codes, output.

The log is served over HTTP on 127.0.0.1 by the static server of tests/keybundle/
test_monitor.py; commands run in-process with click's runner, and the daemon as a real
process that is stopped with SIGTERM.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from keybundle.monitor import MAX_ALLOW_LIST_BYTES
from keybundle_cli.commands import cli
from keybundle_cli.monitor import PoliteFetcher
from tests.keybundle.test_monitor import (
    WITNESS_SIGNER,
    StaticLog,
    append,
    history,
    served,
    submit_to_witness,
)
from tests.keybundle.world import DEFAULT_FLEET, World, fleet_keys, seed
from tests.transparency_log import trickle
from transparency_log.cosignature import CosignatureV1Signer
from transparency_log.fetcher import FetchError, HTTPFetcher
from transparency_log.note import Verifiers, open_note

__all__ = ["served"]  # the fixture, imported for these tests

KEYBUNDLE = Path(sys.executable).parent / "keybundle"
FLEET = DEFAULT_FLEET


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def setup(tmp_path: Path, world: World) -> tuple[Path, Path]:
    root = tmp_path / "root.cbor"
    root.write_bytes(world.signed_root)
    return root, tmp_path / "state"


def test_once_json_on_a_clean_log(served: StaticLog, tmp_path: Path) -> None:
    world = World()
    append(served.root, world, history(world, epochs=2))
    root, state = setup(tmp_path, world)
    code, out = invoke(
        "monitor", "--trust-root", str(root), "--state", str(state), served.url, "--once", "--json"
    )
    assert code == 0, out
    events = [json.loads(line) for line in out.splitlines()]
    assert [e["event"] for e in events if e["event"] != "progress"] == [
        "checkpoint", "health", "epoch", "epoch", "pass",
    ]  # fmt: skip
    assert all(e["time"].endswith("Z") for e in events)
    del events[-1]["time"]
    assert events[-1] == {
        "event": "pass", "status": "clean", "size": 2, "verified_size": 2, "checked": 2,
        "epochs": 2, "fleets": 1, "key_changes": 12, "rotations": 0,
    }  # fmt: skip


def test_once_human_output_misbehaviour_and_evidence_verify(
    served: StaticLog, tmp_path: Path
) -> None:
    world = World()
    first = world.publish(FLEET, 1)[0]
    twin = world.signed_bundle(FLEET, 1, keys=fleet_keys(FLEET, 4))
    append(served.root, world, [first, twin])
    root, state = setup(tmp_path, world)
    code, out = invoke(
        "monitor", "--trust-root", str(root), "--state", str(state), served.url, "--once",
        "--verbose",
    )  # fmt: skip
    assert code == 1, out
    assert "MISBEHAVIOUR (EPOCH_CONFLICT)" in out
    assert f"epoch: fleet {FLEET} epoch 1 (entry 0): 4 added, 0 removed, 0 kept" in out
    assert "pass: misbehaviour; 2 entries verified" in out
    (evidence,) = (state / "evidence").iterdir()
    assert f"evidence: {evidence}" in out

    code, out = invoke("evidence", "verify", str(evidence), "--trust-root", str(root))
    assert code == 0, out
    assert out.startswith("confirmed (EPOCH_CONFLICT, entries):")
    code, out = invoke("evidence", "verify", str(evidence), "--trust-root", str(root), "--json")
    assert json.loads(out)["result"]["index"] == 1

    tampered = tmp_path / "tampered.json"
    tampered.write_bytes(evidence.read_bytes().replace(b'"index":1', b'"index":0'))
    code, out = invoke("evidence", "verify", str(tampered), "--trust-root", str(root))
    assert code == 1
    assert "rejected (MALFORMED_EVIDENCE)" in out


def test_an_unexpected_key_exits_1(served: StaticLog, tmp_path: Path) -> None:
    world = World()
    append(served.root, world, history(world, epochs=2))
    root, state = setup(tmp_path, world)
    allow = tmp_path / "allow.txt"
    allow.write_text(
        "# epoch 1 only\n" + "".join(k.fingerprint + "\n" for k in fleet_keys(FLEET, 1))
    )
    code, out = invoke(
        "monitor", "--trust-root", str(root), "--state", str(state), served.url, "--once",
        "--allow-keys", str(allow),
    )  # fmt: skip
    assert code == 1, out
    assert "MISBEHAVIOUR (UNEXPECTED_KEY)" in out


def test_could_not_check_and_usage_errors_exit_2(served: StaticLog, tmp_path: Path) -> None:
    world = World()
    append(served.root, world, history(world, epochs=1))
    root, state = setup(tmp_path, world)
    code, out = invoke(
        "monitor", "--trust-root", str(root), "--state", str(state), "http://127.0.0.1:9/",
        "--once", "--timeout", "1",
    )  # fmt: skip
    assert code == 2
    assert "could not check" in out

    bad_root = tmp_path / "bad.cbor"
    bad_root.write_bytes(b"\xa0")
    code, out = invoke(
        "monitor", "--trust-root", str(bad_root), "--state", str(state), served.url, "--once"
    )
    assert code == 2
    assert "not a valid signed trust root" in out

    allow = tmp_path / "allow.txt"
    allow.write_text("not a fingerprint\n")
    code, out = invoke(
        "monitor", "--trust-root", str(root), "--state", str(state), served.url, "--once",
        "--allow-keys", str(allow),
    )  # fmt: skip
    assert code == 2
    assert "allow-list line 1" in out

    allow.write_bytes(b"#".ljust(MAX_ALLOW_LIST_BYTES + 1, b"x"))  # SPEC §11: one byte over
    code, out = invoke(
        "monitor", "--trust-root", str(root), "--state", str(state), served.url, "--once",
        "--allow-keys", str(allow),
    )  # fmt: skip
    assert code == 2
    assert f"larger than {MAX_ALLOW_LIST_BYTES} bytes" in out

    code, out = invoke(
        "evidence", "verify", str(tmp_path / "missing.json"), "--trust-root", str(root)
    )
    assert code == 2


def test_a_local_tile_directory_and_witness_mode(served: StaticLog, tmp_path: Path) -> None:
    world = World()
    append(served.root, world, history(world, epochs=1))
    root, state = setup(tmp_path, world)
    signer = CosignatureV1Signer("auditor.example/w", seed("cli witness"))
    key = witness_key(tmp_path, signer, seed("cli witness"))
    code, out = invoke(
        "monitor", "--trust-root", str(root), "--state", str(state), str(served.root), "--once",
        "--witness-key", str(key),
    )  # fmt: skip
    assert code == 0, out
    cosigned = (state / "cosigned-checkpoint").read_bytes()
    assert [s.name for s in open_note(cosigned, Verifiers([signer.verifier()])).sigs] == [
        signer.name
    ]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_the_daemon_polls_until_sigterm(served: StaticLog, tmp_path: Path) -> None:
    world = World()
    append(served.root, world, history(world, epochs=1))
    root, state = setup(tmp_path, world)
    process = subprocess.Popen(
        [str(KEYBUNDLE), "monitor", "--trust-root", str(root), "--state", str(state), served.url,
         "--json", "--interval", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        assert process.stdout is not None
        passes = 0
        deadline = time.monotonic() + 20
        while passes < 2 and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            if json.loads(line)["event"] == "pass":
                passes += 1
                if passes == 1:
                    append(served.root, world, [world.publish(FLEET, 2)[0]])
        assert passes == 2
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def witness_key(tmp_path: Path, signer: CosignatureV1Signer, secret: bytes) -> Path:
    key = tmp_path / "witness.key"
    skey = f"PRIVATE+KEY+{signer.name}+{signer.key_hash:08x}+" + _b64(b"\x04" + secret)
    key.write_text(skey + "\n")
    return key


def test_the_daemon_serves_its_witness_to_the_log(served: StaticLog, tmp_path: Path) -> None:
    world = World()
    append(served.root, world, history(world, epochs=1))
    root, state = setup(tmp_path, world)
    key = witness_key(tmp_path, WITNESS_SIGNER, seed("auditor witness"))
    process = subprocess.Popen(
        [str(KEYBUNDLE), "monitor", "--trust-root", str(root), "--state", str(state), served.url,
         "--json", "--interval", "1", "--witness-key", str(key),
         "--witness-listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        assert process.stdout is not None
        url = None
        deadline = time.monotonic() + 20
        while url is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            event = json.loads(line)
            if event["event"] == "witness_listening":
                url = event["url"]
        assert url is not None, "the daemon never served its witness"
        append(served.root, world, [world.publish(FLEET, 2)[0]])
        outcome = submit_to_witness(served.root, world, url, old_size=1)
        assert outcome.ok, outcome.error
        assert [s.name for s in outcome.cosignatures] == [WITNESS_SIGNER.name]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_witness_listen_needs_a_key_and_a_daemon(served: StaticLog, tmp_path: Path) -> None:
    world = World()
    append(served.root, world, [])
    root, state = setup(tmp_path, world)
    base = ["monitor", "--trust-root", str(root), "--state", str(state), served.url]
    code, out = invoke(*base, "--witness-listen", "127.0.0.1:0")
    assert code == 2
    assert "needs --witness-key" in out
    key = witness_key(tmp_path, WITNESS_SIGNER, seed("auditor witness"))
    code, out = invoke(*base, "--once", "--witness-key", str(key), "--witness-listen", ":0")
    assert code == 2


def test_the_checkpoint_is_revalidated_only_with_a_safe_validator(
    served: StaticLog, tmp_path: Path
) -> None:
    world = World()
    append(served.root, world, history(world, epochs=1))
    served.validators = True
    checkpoint = served.root / "checkpoint"
    old = int(time.time()) - 10
    os.utime(checkpoint, (old, old))
    fetcher = PoliteFetcher(HTTPFetcher(served.url, timeout=5), timeout=5)
    with fetcher:
        first = fetcher.fetch("checkpoint")
        assert served.conditional == []
        assert fetcher.fetch("checkpoint") == first  # answered 304, the body reused
        assert fetcher.not_modified == 1
        # A new checkpoint: a newer Last-Modified, so a 200 with the new body.
        append(served.root, world, [world.publish(FLEET, 2)[0]])
        second = fetcher.fetch("checkpoint")
        assert second != first
        # Its validator is racy (modified this very second): the next request is plain.
        sent = len(served.conditional)
        fetcher.fetch("checkpoint")
        assert len(served.conditional) == sent
    # And the monitor, through it, sees everything.
    root, state = setup(tmp_path, world)
    code, out = invoke(
        "monitor", "--trust-root", str(root), "--state", str(state), served.url, "--once"
    )
    assert code == 0, out


@pytest.mark.parametrize("mode", trickle.MODES)
def test_a_trickling_log_is_cut_at_the_deadline(mode: str) -> None:
    # The conditional checkpoint request and the plain fetch it falls back to each have one
    # deadline for the whole answer (OPS §8.1, SPEC §11): 0.5 s + 0.5 s here, not hours.
    with trickle.trickling_server(mode) as url:
        fetcher = PoliteFetcher(HTTPFetcher(url, timeout=0.5, retries=0), timeout=0.5)
        started = time.monotonic()
        with fetcher, pytest.raises(FetchError, match="timed out"):
            fetcher.fetch("checkpoint")
        elapsed = time.monotonic() - started
    assert 1.0 <= elapsed < 2.0, elapsed
