"""``keybundle log witnesses``, ``log cosign``, and a served log that is always freshly
cosigned (SPEC §6.5.2, OPS §6.5.3, §6.5.5, CLI §10.6; issues 11 item 3, 16 item 4, 19).

Before: a log's witnesses were frozen at ``log init``; with its witness down, ``POST /add``
answered 200 with an uncosigned checkpoint, and after the witness came back the checkpoint
stayed uncosigned until the re-cosign interval (an hour) passed; no command forced a round;
on a full disk ``log append`` ended with a traceback.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path

import pytest
import requests

from tests.cli.test_log_cli import ORIGIN, _files, _keybundle, _start, _stop, _write_key, run
from tests.transparency_log.serving import serving_on_a_thread
from tests.transparency_log.smalldisk import fill, small_disk
from tests.transparency_log.witnesses import MemoryStateStore
from transparency_log import note
from transparency_log.checkpoint import verify_checkpoint
from transparency_log.cosignature import CosignatureV1Signer
from transparency_log.witness import Witness, make_witness_server

pytestmark = pytest.mark.timeout(120)

W1 = CosignatureV1Signer("witness.example/w1", b"\x05" * 32)
W2 = CosignatureV1Signer("witness.example/w2", b"\x06" * 32)


def _init(tmp_path: Path) -> tuple[Path, str]:
    vkey = _write_key(tmp_path / "log.key")
    directory = tmp_path / "log"
    result = run("log", "init", directory, "--origin", ORIGIN, "--key", tmp_path / "log.key")
    assert result.exit_code == 0, result.output
    return directory, vkey


def _policy(path: Path, log_vkey: str, witnesses: dict[CosignatureV1Signer, str]) -> Path:
    lines = [f"log {log_vkey}"]
    names = []
    for number, (signer, url) in enumerate(witnesses.items(), start=1):
        lines.append(f"witness w{number} {signer.verifier().verifier_key} {url}")
        names.append(f"w{number}")
    lines.append(f"group all-of all {' '.join(names)}" if len(names) > 1 else "")
    lines.append(f"quorum {'all-of' if len(names) > 1 else names[0]}")
    path.write_text("\n".join(line for line in lines if line) + "\n")
    return path


def _cosigners(directory: Path, log_vkey: str) -> dict[str, int]:
    verified = verify_checkpoint(
        (directory / "checkpoint").read_bytes(),
        note.new_verifier(log_vkey),
        origin=ORIGIN,
        witnesses=[W1.verifier(), W2.verifier()],
    )
    return dict(verified.cosignatures)


def test_witnesses_lists_sets_several_policies_and_clears(tmp_path: Path) -> None:
    directory, vkey = _init(tmp_path)
    assert run("log", "witnesses", directory).stdout == "no witnesses\n"
    one = _policy(tmp_path / "one.policy", vkey, {W1: "http://127.0.0.1:1"})
    two = _policy(tmp_path / "two.policy", vkey, {W1: "http://127.0.0.1:1", W2: "http://[::1]:2"})
    result = run("log", "witnesses", directory, "--set", one, "--set", two)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"policy 1: witness {W1.name} ")
    assert "policy 1: quorum w1" in lines
    assert "policy 2: quorum all-of" in lines
    assert run("log", "witnesses", directory).stdout == result.stdout
    no_url = tmp_path / "no-url.policy"
    no_url.write_text(f"log {vkey}\nwitness w1 {W1.verifier().verifier_key}\nquorum w1\n")
    refused = run("log", "witnesses", directory, "--set", no_url)
    assert refused.exit_code == 2
    assert "has no URL" in refused.stderr
    assert run("log", "witnesses", directory).stdout == result.stdout  # unchanged
    assert run("log", "witnesses", directory, "--clear").stdout == "no witnesses\n"


def test_cosign_without_a_server_asks_the_witnesses_under_the_lock(tmp_path: Path) -> None:
    directory, vkey = _init(tmp_path)
    witness = Witness(W1, {ORIGIN: note.new_verifier(vkey)}, MemoryStateStore())
    with serving_on_a_thread(make_witness_server(witness, threads=2)) as served:
        url = f"http://127.0.0.1:{served.port}"
        policy = _policy(tmp_path / "w.policy", vkey, {W1: url})
        assert run("log", "witnesses", directory, "--set", policy).exit_code == 0
        assert _cosigners(directory, vkey) == {}
        result = run("log", "cosign", directory)
        assert result.exit_code == 0, result.output
        assert result.stdout == f"cosigned {W1.name}\nquorum met\n"
        assert set(_cosigners(directory, vkey)) == {W1.name}


def test_append_reports_a_quorum_it_did_not_meet_and_keeps_the_entries(tmp_path: Path) -> None:
    # CLI §10.6: the entries are logged and their indices printed either way; a checkpoint
    # the witnesses did not cosign enough is exit 1, QUORUM_NOT_MET, naming the witness.
    directory, vkey = _init(tmp_path)
    witness = Witness(W1, {ORIGIN: note.new_verifier(vkey)}, MemoryStateStore())
    with serving_on_a_thread(make_witness_server(witness, threads=2)) as served:
        url = f"http://127.0.0.1:{served.port}"
        live = _policy(tmp_path / "live.policy", vkey, {W1: url})
        assert run("log", "witnesses", directory, "--set", live).exit_code == 0
        [first] = _files(tmp_path, [b"first entry"])
        ok = run("log", "append", directory, first, "--json")
        assert ok.exit_code == 0, ok.output
        assert json.loads(ok.stdout)["result"] == {
            "entries": [{"file": str(first), "index": 0}],
            "quorum_met": True,
        }
    # The witness is gone (its port closed): the next append is logged but not witnessed.
    second = tmp_path / "second.bin"
    second.write_bytes(b"second entry")
    failed = run("log", "append", directory, second)
    assert failed.exit_code == 1, failed.output
    assert failed.stdout == f"{second} 1\n"
    [line] = failed.stderr.splitlines()
    assert line.startswith("rejected (QUORUM_NOT_MET): the entries are in the log, but ")
    assert f"{W1.name}: " in line
    assert f"keybundle log cosign {directory}" in line
    as_json = run("log", "append", directory, second, "--json")
    envelope = json.loads(as_json.stdout)
    assert (envelope["exit"], envelope["error"]["reason"]) == (1, "QUORUM_NOT_MET")
    assert envelope["result"] == {
        "entries": [{"file": str(second), "index": 1}],
        "quorum_met": False,
    }
    assert set(_cosigners(directory, vkey)) == set()  # published, without a cosignature
    assert run("log", "witnesses", directory, "--clear").exit_code == 0
    plain = run("log", "append", directory, second, "--json")
    assert json.loads(plain.stdout)["result"]["quorum_met"] is None


def test_a_served_log_follows_new_witnesses_answers_504_until_the_quorum_and_heals(
    tmp_path: Path,
) -> None:
    directory, vkey = _init(tmp_path)
    state = MemoryStateStore()
    witness = Witness(W1, {ORIGIN: note.new_verifier(vkey)}, state)
    with serving_on_a_thread(make_witness_server(witness, threads=2)) as served:
        url = f"http://127.0.0.1:{served.port}"
        server, base = _start("log", "serve", directory, "--listen", "127.0.0.1:0",
                              "--quorum-wait", "1")  # fmt: skip
        try:
            # No witnesses yet: an entry is answered at once.
            assert requests.post(f"{base}/add", data=b"first", timeout=30).status_code == 200
            # Witnesses set while it runs: the next round uses them.
            policy = _policy(tmp_path / "w.policy", vkey, {W1: url})
            assert run("log", "witnesses", directory, "--set", policy).exit_code == 0
            result = _keybundle("log", "cosign", directory, "--timeout", "30")
            assert result.returncode == 0, result.stderr
            assert result.stdout == f"cosigned {W1.name}\nquorum met\n"
            assert set(_cosigners(directory, vkey)) == {W1.name}
            # The witness fails: the entry is logged, but the answer is 504, not an
            # uncosigned 200.
            state.fail_save = OSError("witness disk gone")
            answer = requests.post(f"{base}/add", data=b"second", timeout=30)
            assert answer.status_code == 504, answer.text
            assert answer.headers["Retry-After"] == "15"
            assert "logged at index 1" in answer.text
            # It comes back: within seconds the checkpoint is cosigned, without a restart or
            # a command, and the resubmission gets its proof.
            state.fail_save = None
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                text = (directory / "checkpoint").read_text()
                if text.split("\n")[1] == "2" and W1.name in _cosigners(directory, vkey):
                    break
                time.sleep(0.1)
            assert W1.name in _cosigners(directory, vkey)
            again = requests.post(f"{base}/add", data=b"second", timeout=30)
            assert again.status_code == 200, again.text
            assert "\nindex 1\n" in "\n" + again.text
        finally:
            assert _stop(server) == 0


def test_cosign_reports_a_writer_that_does_not_answer(tmp_path: Path) -> None:
    directory, vkey = _init(tmp_path)
    policy = _policy(tmp_path / "w.policy", vkey, {W1: "http://127.0.0.1:1"})
    assert run("log", "witnesses", directory, "--set", policy).exit_code == 0
    fd = os.open(directory / ".state" / "lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a writer that is not 'log serve'
        result = run("log", "cosign", directory, "--timeout", "1")
    finally:
        os.close(fd)
    assert result.exit_code == 2
    assert "did not answer within 1 s" in result.stderr
    assert not (directory / ".state" / "cosign-request").exists()


def test_append_on_a_full_disk_is_one_line_and_loses_nothing(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk", "8m") as disk:
        vkey = _write_key(tmp_path / "log.key")
        directory = disk / "log"
        init = _keybundle("log", "init", directory, "--origin", ORIGIN, "--key",
                          tmp_path / "log.key")  # fmt: skip
        assert init.returncode == 0, init.stderr
        first = _keybundle("log", "append", directory, *_files(tmp_path, [b"kept"]))
        assert first.returncode == 0, first.stderr
        filler = fill(disk)
        many = [b"entry %d " % i + bytes(2000) for i in range(64)]
        full = _keybundle("log", "append", directory, *_files(tmp_path, many))
        assert full.returncode == 2, full.stderr
        assert full.stderr.count("\n") == 1, full.stderr
        assert "Traceback" not in full.stderr
        assert "nothing acknowledged was lost" in full.stderr or "No space" in full.stderr
        filler.unlink()
        again = _keybundle("log", "append", directory, *_files(tmp_path, [b"kept"]))
        assert again.returncode == 0, again.stderr
        assert again.stdout.split()[-1] == "0"
        assert (
            verify_checkpoint(
                (directory / "checkpoint").read_bytes(), note.new_verifier(vkey), origin=ORIGIN
            ).checkpoint.size
            >= 1
        )


def test_serve_on_a_full_disk_answers_503_recovers_and_stops_cleanly(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk", "8m") as disk:
        _write_key(tmp_path / "log.key")
        directory = disk / "log"
        init = _keybundle("log", "init", directory, "--origin", ORIGIN, "--key",
                          tmp_path / "log.key")  # fmt: skip
        assert init.returncode == 0, init.stderr
        server, base = _start("log", "serve", directory, "--listen", "127.0.0.1:0")
        try:
            assert requests.post(f"{base}/add", data=b"kept", timeout=30).status_code == 200
            filler = fill(disk)
            refused = [
                requests.post(f"{base}/add", data=b"x%d" % i + bytes(3000), timeout=30)
                for i in range(40)
            ]
            assert {r.status_code for r in refused} <= {200, 503}
            assert any(r.status_code == 503 for r in refused)
            filler.unlink()
            # Space is back: the running writer takes entries again, no restart.
            again = requests.post(f"{base}/add", data=b"after", timeout=30)
            assert again.status_code == 200, again.text
            filler = fill(disk)
        finally:
            code = _stop(server)
        assert server.stderr is not None
        stderr = server.stderr.read()
        assert "Traceback" not in stderr
        assert code in (0, 2), stderr  # 2: closing could not record its size (one line)
        filler.unlink()
        proof = _keybundle("log", "append", directory, *_files(tmp_path, [b"kept", b"after"]))
        assert proof.returncode == 0, proof.stderr
        assert proof.stdout.split("\n")[0].endswith(" 0")
