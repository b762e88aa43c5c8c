"""Every command's ``--json`` output against docs/cli-output.schema.json (CLI §10.1, issue 13).

One envelope for success and error, with a schema version; one field name and one encoding
per value across commands. Each case runs a command with ``--json`` and validates what it
printed, success and error alike; :func:`test_every_command_is_covered` makes sure no
command of the tree is left out (the log, witness, package, monitor and demo commands have
no result shape in the schema yet, and are listed in ``NOT_YET``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import click
import jsonschema
import pytest
from click.testing import CliRunner

from keybundle_cli import _common
from keybundle_cli.commands import cli
from keybundle_cli.verify import run as run_verify
from tests.conftest import REPO
from tests.keybundle.world import World as ClientWorld

from .test_bundle_cli import World
from .test_trust_root_cli import ENV

SCHEMA = json.loads((REPO / "docs" / "cli-output.schema.json").read_text("utf-8"))
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)

NOT_YET = {
    "keybundle demo",
    "keybundle log serve",
    "keybundle monitor follow",
    "keybundle witness serve",
}
"""Commands whose output is not one envelope (CLI §10.1 says why): the servers, `monitor
follow` (a stream of events, one JSON object per line) and `demo` (its steps)."""

SEEN: set[str] = set()


def check(text: str) -> dict[str, Any]:
    """The one JSON object ``text`` holds, validated against the schema."""
    lines = text.splitlines()
    assert len(lines) == 1, f"one line of JSON, got {text!r}"
    obj: dict[str, Any] = json.loads(lines[0])
    errors = sorted(VALIDATOR.iter_errors(obj), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)
    SEEN.add(obj["command"])
    return obj


def run(args: Sequence[str], *, code: int = 0, stdin: bytes | None = None) -> dict[str, Any]:
    runner = CliRunner(env={_common.PASSPHRASE_ENV: ENV[_common.PASSPHRASE_ENV]})
    result = runner.invoke(cli, [*args, "--json"], input=stdin, catch_exceptions=False)
    assert result.exit_code == code, (result.stdout, result.stderr)
    obj = check(result.stdout)
    assert obj["exit"] == code
    return obj


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return World(tmp_path_factory.mktemp("json"))


def test_keys(world: World) -> None:
    d = world.dir
    role = run(["keys", "generate", "--algorithm", "p256", "--name", "op", "--out", str(d / "k1")])
    assert (
        role["result"]["kid"] == (run(["keys", "show", str(d / "k1.pub")])["result"]["kid"])
    )  # one kid form: 32 hex digits everywhere
    note_key = run(["keys", "generate", "--type", "note", "--name", "log.example/x",
                    "--out", str(d / "log")])  # fmt: skip
    assert note_key["result"]["vkey"].startswith("log.example/x+")
    run(["keys", "show", str(d / "log.pub")])
    error = run(["keys", "generate", "--name", "x", "--out", str(d / "x")], code=2)
    assert "--type note|cosignature" in error["error"]["message"]


def test_trust_root(world: World) -> None:
    d = world.dir
    from .test_trust_root_cli import make_policy

    policy = make_policy(d)
    created = run([
        "trust-root", "create", "--independent", f"{world.independent.pub}:Audit Org",
        "--operator", f"{world.operator.pub}:Vault Co", "--policy", str(policy),
        "-o", str(d / "tr.unsigned"),
    ])  # fmt: skip
    assert created["result"]["signed"] is False
    one = run(["trust-root", "sign", "--key", str(world.independent.key), str(d / "tr.unsigned"),
               "-o", str(d / "tr.1")])  # fmt: skip
    assert one["result"]["self_signed"]["verified"] is False
    two = run(["trust-root", "sign", "--key", str(world.operator.key), str(d / "tr.1"),
               "-o", str(d / "tr.2")])  # fmt: skip
    assert two["result"]["self_signed"]["verified"] is True
    inspected = run(["trust-root", "inspect", str(d / "tr.2"), "--previous", str(world.root_file)])
    digest = hashlib.sha256((d / "tr.2").read_bytes()).hexdigest()
    assert inspected["result"]["digest"] == digest  # to compare out of band before pinning
    run(["trust-root", "verify", str(d / "tr.2")])
    run(["trust-root", "verify", str(d / "tr.unsigned")], code=2)
    run(["trust-root", "verify", str(d / "tr.1")], code=1)


def test_bundle(world: World) -> None:
    d, root = world.dir, str(world.root_file)
    built = run(["bundle", "build", str(world.fleet), "-o", str(d / "p.cbor")])
    assert built["result"]["payload"]["keys"][0]["public_key"]  # hex, as in every command
    run(["bundle", "sign", "--key", str(world.independent.key), "--trust-root", root,
         str(d / "p.cbor"), "-o", str(d / "s.cbor")])  # fmt: skip
    run(["bundle", "countersign", "--key", str(world.operator.key), "--trust-root", root,
         str(d / "s.cbor"), "-o", str(d / "b.cbor")])  # fmt: skip
    run(["bundle", "inspect", str(d / "p.cbor")])
    run(["bundle", "inspect", str(d / "b.cbor"), "--trust-root", root])
    run(["bundle", "verify", str(d / "b.cbor"), "--trust-root", root])
    rejected = run(["bundle", "verify", str(d / "s.cbor"), "--trust-root", root], code=1)
    assert rejected["error"]["reason"]
    wrong_role = run(["bundle", "sign", "--key", str(world.operator.key), "--trust-root", root,
                      str(d / "p.cbor"), "-o", str(d / "s2.cbor")], code=2)  # fmt: skip
    assert "needs an independent key" in wrong_role["error"]["message"]
    usage = run(["bundle", "sign", str(d / "p.cbor")], code=2)
    assert usage["error"]["message"].startswith("bundle sign: missing option")


def test_note(world: World) -> None:
    d = world.dir
    run(["keys", "generate", "--type", "note", "--name", "n.example/k", "--out", str(d / "n")])
    (d / "text").write_text("hello\n")
    signed = run(["note", "sign", "--key", str(d / "n.key"), str(d / "text")])
    (d / "text.note").write_text(signed["result"]["note"])
    run(["note", "verify", str(d / "text.note"), "--vkey", str(d / "n.pub")])
    run(["note", "verify", "-", "--vkey", str(d / "n.pub")], code=1, stdin=b"junk\n")


def test_verify_client_and_evidence(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    w = ClientWorld()
    root, state = tmp_path / "root.cbor", tmp_path / "state"
    root.write_bytes(w.signed_root)
    state.mkdir()
    package = tmp_path / "p.cbor"
    package.write_bytes(w.fresh_package())
    args = ["--trust-root", str(root), "--state", str(state), "--now", str(w.now), "--json"]
    assert run_verify([*args, str(package)]) == 0
    check(capsys.readouterr().out)
    assert run_verify([*args, "--fleet", "other", str(package)]) == 1
    check(capsys.readouterr().out)
    assert run_verify([*args, str(tmp_path / "missing")]) == 2
    check(capsys.readouterr().out)
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    run(["client", "bootstrap", "--trust-root", str(root), "--state", str(fresh),
         "--now", str(w.now), str(package)])  # fmt: skip
    run(["client", "bootstrap", "--trust-root", str(root), "--state", str(fresh),
         "--now", "+1", str(package)], code=2)  # fmt: skip
    run(["evidence", "verify", str(package), "--trust-root", str(root)], code=1)


def test_conformance_and_vectors(tmp_path: Path) -> None:
    run(["conformance", "run", "--family", "merkle"])
    error = run(["conformance", "run", "--verifier", str(tmp_path / "nope")], code=2)
    assert "does not exist" in error["error"]["message"]
    vectors = tmp_path / "v"
    vectors.mkdir()
    checked = run(["vectors", "generate", "--check", "--out", str(vectors)], code=1)
    assert checked["result"]["differences"]


def test_log_and_package(tmp_path: Path) -> None:
    from .test_package_cli import Deployment
    from .test_package_cli import deployment as make_deployment

    d: Deployment = make_deployment.__wrapped__(tmp_path)  # type: ignore[attr-defined]
    w = d.world
    key = tmp_path / "log.key"
    run(["log", "init", str(tmp_path / "log2"), "--origin", "log.example/bundles", "--key",
         str(key)])  # fmt: skip
    entry = tmp_path / "entry.bin"
    entry.write_bytes(w.signed_bundle("prod-eu.vault", 1))
    appended = run(["log", "append", str(d.log), str(entry)])
    (index,) = [e["index"] for e in appended["result"]["entries"]]
    w.append(entry.read_bytes())
    d.cosign()
    run(["log", "proof", str(d.log), "--index", str(index)])
    run(["log", "rotations", "--log", str(d.log)])
    built = run(["package", "build", "--log", str(d.log), "--index", str(index), "-o",
                 str(tmp_path / "p.cbor"), "--now", str(w.now)])  # fmt: skip
    assert built["result"]["checked"] is True
    run(["package", "inspect", str(tmp_path / "p.cbor"), "--trust-root", str(d.root_file),
         "--now", str(w.now)])  # fmt: skip


def test_log_witnesses_and_cosign(tmp_path: Path) -> None:
    from tests.transparency_log.serving import serving_on_a_thread
    from tests.transparency_log.witnesses import MemoryStateStore
    from transparency_log import note
    from transparency_log.witness import Witness, make_witness_server

    from .test_log_cli import ORIGIN
    from .test_log_witnesses_cli import W1, W2, _init, _policy

    directory, vkey = _init(tmp_path)
    assert run(["log", "witnesses", str(directory)])["result"] == {"policies": []}
    witness = Witness(W1, {ORIGIN: note.new_verifier(vkey)}, MemoryStateStore())
    with serving_on_a_thread(make_witness_server(witness, threads=2)) as served:
        url = f"http://127.0.0.1:{served.port}"
        # W2 is not listening: all-of both is not met; exit 1 with the result.
        both_policy = _policy(tmp_path / "w2.policy", vkey, {W1: url, W2: "http://127.0.0.1:1"})
        run(["log", "witnesses", str(directory), "--set", str(both_policy)])
        failed = run(["log", "cosign", str(directory)], code=1)
        assert [(w["name"], w["cosigned"]) for w in failed["result"]["witnesses"]] == [
            (W1.name, True),
            (W2.name, False),
        ]
        assert failed["result"]["witnesses"][1]["error"]
        assert failed["error"]["reason"] == "QUORUM_NOT_MET"
        policy = _policy(tmp_path / "w.policy", vkey, {W1: url})
        listed = run(["log", "witnesses", str(directory), "--set", str(policy)])
        assert listed["result"]["policies"] == [{
            "witnesses": [{"name": "w1", "key_name": W1.name,
                           "vkey": W1.verifier().verifier_key, "url": url}],
            "quorum": "w1",
        }]  # fmt: skip
        cosigned = run(["log", "cosign", str(directory)])
        assert cosigned["result"] == {
            "witnesses": [{"name": W1.name, "cosigned": True, "error": None}],
            "quorum_met": True,
            "server": False,
        }
    both = run(["log", "witnesses", str(directory), "--clear", "--set", str(policy)], code=2)
    assert "mutually exclusive" in both["error"]["message"]
    run(["log", "cosign", str(tmp_path / "nothing")], code=2)


def test_log_cosign_parses_a_servers_answer() -> None:
    from keybundle_cli.log import _cosign_result

    answer = "cosigned w.example/a\nfailed w.example/b:: refused: 503\nquorum not met"
    assert _cosign_result(answer, server=True) == {
        "witnesses": [
            {"name": "w.example/a", "cosigned": True, "error": None},
            {"name": "w.example/b:", "cosigned": False, "error": "refused: 503"},
        ],
        "quorum_met": False,
        "server": True,
    }
    assert _cosign_result("error: disk full", server=True)["witnesses"] == []


def test_monitor_report(tmp_path: Path) -> None:
    from .test_monitor_report import example_state

    _, state, _ = example_state(tmp_path)
    made = run(["monitor", "report", "--state", str(state), "-o", str(tmp_path / "out")])
    assert "index.html" in made["result"]["files"]
    assert made["result"]["evidence_files"] >= 1
    assert made["result"]["fleets"] == 2
    run(["monitor", "report", "--state", str(tmp_path / "none"), "-o", str(tmp_path / "o")],
        code=2)  # fmt: skip


def test_package_publish(tmp_path: Path) -> None:
    import time

    from tests.keybundle.fleetlog import FleetLog

    fl = FleetLog(tmp_path / "log", ClientWorld(now=int(time.time())))
    fl.add_bundle("a.vault")
    fl.cosign()
    root = tmp_path / "root.cbor"
    root.write_bytes(fl.signed_roots[1])
    args = ["package", "publish", "--log", str(fl.root), "--trust-root", str(root),
            "--out", str(tmp_path / "www")]  # fmt: skip
    first = run(args)["result"]
    assert (first["changed"], first["fleets"], first["size"]) == (True, 1, fl.world.size)
    assert run(args)["result"]["changed"] is False
    follow = run([*args, "--follow"], code=2)
    assert "--follow" in follow["error"]["message"]


def _commands(command: click.Command, path: str) -> Iterator[str]:
    if isinstance(command, click.Group):
        ctx = click.Context(command)
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None
            yield from _commands(sub, f"{path} {name}")
    else:
        yield path


def test_every_command_is_covered() -> None:
    """Runs last in this module: every command printed a validated envelope above."""
    every = set(_commands(cli, "keybundle"))
    assert every - NOT_YET - SEEN == set()


def _spec_examples() -> list[str]:
    spec = (REPO / "docs" / "cli.md").read_text("utf-8")
    start = spec.index("\n### 10.1 ")
    end = spec.index("\n### 10.2 ", start)
    lines: list[str] = []
    for block in spec[start:end].split("```json\n")[1:]:
        lines.extend(block.split("```", 1)[0].splitlines())
    return lines


@pytest.mark.parametrize("line", _spec_examples())
def test_spec_examples_follow_the_schema(line: str) -> None:
    """CLI §10.1's example per command is a valid envelope of that command."""
    obj = json.loads(line)
    errors = [e.message for e in VALIDATOR.iter_errors(obj)]
    assert not errors, errors


def test_spec_has_an_example_of_every_described_command() -> None:
    described = {json.loads(line)["command"] for line in _spec_examples()}
    every = set(_commands(cli, "keybundle"))
    assert every - NOT_YET - described == set()
