"""The command line's shared conventions (CLI §10.1, issue 13): the probes a new user ran.

One dialect (one-line errors naming the help), ``-`` for standard input and output, errors
that name what was wrong (a note key or a ``.pub`` as ``--key``, FLEET.json where a payload
belongs, a key of the wrong role), escaping, environment variables and an example in every
``--help``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from keybundle_cli import _common
from keybundle_cli._output import escape, parse_decimal
from keybundle_cli.commands import EXAMPLES, cli
from keybundle_cli.verify import build_parser

from .test_bundle_cli import World
from .test_trust_root_cli import ENV, make_policy

KEYBUNDLE = Path(sys.executable).parent / "keybundle"


def run(
    args: list[str], *, stdin: bytes | None = None, env: dict[str, str | None] | None = None
) -> Any:
    runner = CliRunner(env={**ENV, **(env or {})})
    result = runner.invoke(cli, args, input=stdin, catch_exceptions=False)
    assert "Traceback" not in result.stderr
    return result


@pytest.fixture
def world(tmp_path: Path) -> World:
    w = World(tmp_path)
    assert run(["bundle", "build", str(w.fleet), "-o", w.path("p.cbor")]).exit_code == 0
    assert (
        run(["keys", "generate", "--type", "note", "--name", "log", "--out", w.path("log")],
            env={_common.PASSPHRASE_ENV: None}).exit_code == 0
    )  # fmt: skip
    return w


# -- one dialect ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["bundle", "sign"], "keybundle: error: bundle sign: missing argument 'IN'; see "
         "'keybundle bundle sign --help'\n"),
        (["nope"], "keybundle: error: no such command 'nope'; see 'keybundle --help'\n"),
        (["keys", "show", "--bogus"], "keybundle: error: keys show: no such option '--bogus'; see "
         "'keybundle keys show --help'\n"),
    ],
)  # fmt: skip
def test_usage_errors_are_one_line(args: list[str], expected: str) -> None:
    result = run(args)
    assert result.exit_code == 2
    assert result.stderr == expected
    assert result.stdout == ""


def test_verify_usage_error_has_the_same_shape() -> None:
    done = subprocess.run(
        [str(KEYBUNDLE), "verify", "--state", "s", "p"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2
    assert done.stderr == (
        "keybundle: error: verify: the following arguments are required: --trust-root; see "
        "'keybundle verify --help'\n"
    )


def _commands(command: click.Command, path: str) -> Iterator[tuple[str, click.Command]]:
    if isinstance(command, click.Group):
        ctx = click.Context(command)
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None
            yield from _commands(sub, f"{path} {name}".strip())
    else:
        yield path, command


def test_every_help_ends_with_an_example() -> None:
    paths = {path for path, _ in _commands(cli, "")}
    assert paths == set(EXAMPLES) | {"verify"}
    for path in sorted(paths - {"verify"}):
        result = run([*path.split(), "--help"])
        assert result.exit_code == 0, path
        assert f"Example:\n    {EXAMPLES[path].split()[0]} {path}" in result.stdout, path
    assert "Example:\n  keybundle verify " in build_parser().format_help()


def test_help_names_the_environment_variables() -> None:
    assert "KEYBUNDLE_TRUST_ROOT" in run(["bundle", "verify", "--help"]).stdout
    assert "KEYBUNDLE_STATE" in run(["client", "bootstrap", "--help"]).stdout
    assert "KEYBUNDLE_PASSPHRASE_FILE" in run(["bundle", "sign", "--help"]).stdout
    assert "_KEYBUNDLE_COMPLETE=bash_source" in run(["--help"]).stdout


def test_trust_root_from_the_environment(world: World) -> None:
    bundle = ["bundle", "inspect", world.path("p.cbor")]
    result = run(bundle, env={"KEYBUNDLE_TRUST_ROOT": str(world.root_file)})
    assert result.exit_code == 0


# -- '-' is standard input and standard output -------------------------------------------------


def test_dash_output_writes_standard_output_and_the_summary_to_stderr(world: World) -> None:
    result = run(["bundle", "build", str(world.fleet), "-o", "-"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout_bytes == (world.dir / "p.cbor").read_bytes()
    assert "payload for fleet" in result.stderr
    piped = run(
        ["bundle", "sign", "--key", str(world.independent.key), "-", "-o", "-"],
        stdin=result.stdout_bytes,
    )
    assert piped.exit_code == 0, piped.stderr
    assert piped.stdout_bytes[:1] == b"\xd2"
    both = run(["bundle", "build", str(world.fleet), "-o", "-", "--json"])
    assert both.exit_code == 2
    assert "both write to standard output" in both.stdout


def test_keys_generate_refuses_dash_as_a_prefix(tmp_path: Path) -> None:
    result = run(["keys", "generate", "--type", "note", "--name", "x", "--out", "-"])
    assert result.exit_code == 2
    assert "not '-'" in result.stderr


# -- errors that say what was wrong --------------------------------------------------------------


def test_a_note_key_as_key_is_named(world: World) -> None:
    result = run(["bundle", "sign", "--key", world.path("log.key"), world.path("p.cbor"), "-o",
                  world.path("s.cbor")])  # fmt: skip
    assert result.exit_code == 2
    assert "is a note private key" in result.stderr
    assert "passphrase" not in result.stderr


def test_a_public_key_as_key_is_named(world: World) -> None:
    result = run(["bundle", "sign", "--key", str(world.independent.pub), world.path("p.cbor"),
                  "-o", world.path("s.cbor")])  # fmt: skip
    assert result.exit_code == 2
    assert "is a public key; give the private key file" in result.stderr


def test_fleet_json_given_to_sign_is_named(world: World) -> None:
    result = run(["bundle", "sign", "--key", str(world.independent.key), str(world.fleet), "-o",
                  world.path("s.cbor")])  # fmt: skip
    assert result.exit_code == 2
    assert "looks like JSON (a FLEET.json?)" in result.stderr
    assert "729618471753377125" not in result.stderr


def test_a_key_of_the_wrong_role_is_refused_when_it_is_opened(world: World) -> None:
    root = str(world.root_file)
    result = run(["bundle", "sign", "--key", str(world.operator.key), "--trust-root", root,
                  world.path("p.cbor"), "-o", world.path("s.cbor")])  # fmt: skip
    assert result.exit_code == 2
    assert "is an operator key of trust root" in result.stderr
    assert "needs an independent key" in result.stderr
    assert not (world.dir / "s.cbor").exists()


def test_a_note_verifier_key_given_to_trust_root_create_is_named(world: World) -> None:
    policy = make_policy(world.dir)
    result = run([
        "trust-root", "create", "--independent", world.path("log.pub"),
        "--operator", str(world.operator.pub), "--policy", str(policy), "-o", world.path("r"),
    ])  # fmt: skip
    assert result.exit_code == 2
    assert "is a note verifier key; give a role public key" in result.stderr
    assert "cryptography.io" not in result.stderr
    assert "MalformedFraming" not in result.stderr


def test_trust_root_sign_reports_rotation_completeness(world: World) -> None:
    policy = make_policy(world.dir)
    assert run([
        "trust-root", "create", "--version", "2", "--independent", str(world.stranger.pub),
        "--operator", str(world.operator.pub), "--policy", str(policy), "-o", world.path("v2.u"),
    ]).exit_code == 0  # fmt: skip
    old_key = run(["trust-root", "sign", "--key", str(world.independent.key), "--previous",
                   str(world.root_file), world.path("v2.u"), "-o", world.path("v2.a")])  # fmt: skip
    assert old_key.exit_code == 0, old_key.stderr
    assert "independent key of Audit Org in the previous root" in old_key.stdout
    assert "rotation from version 1: not yet complete" in old_key.stdout
    without = run(["trust-root", "sign", "--key", str(world.independent.key),
                   world.path("v2.u"), "-o", world.path("v2.b")])  # fmt: skip
    assert "give --previous PREV" in without.stdout


# -- shared pieces ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain", "plain"),
        ("evil\u202eexe.txt", "evil\\u202eexe.txt"),
        ("csi\u009b31m", "csi\\x9b31m"),
        ("esc\x1b[2J", "esc\\x1b[2J"),
        ("isolate\u2066x\u2069", "isolate\\u2066x\\u2069"),
        ("tab\tnewline\n", "tab\\tnewline\\n".replace("\\t", "\\x09").replace("\\n", "\\x0a")),
        ("café ✓", "café ✓"),
    ],
)
def test_escape(text: str, shown: str) -> None:
    assert escape(text) == shown


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", 0),
        ("1796000000", 1_796_000_000),
        ("9223372036854775807", (1 << 63) - 1),
        ("9223372036854775808", None),
        ("0017", None),
        ("+17", None),
        ("-1", None),
        ("1_796", None),
        ("\u0661\u0662", None),
        (" 7", None),
        ("", None),
        ("1e3", None),
    ],
)
def test_parse_decimal(text: str, value: int | None) -> None:
    assert parse_decimal(text) == value


# -- a file of another kind ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "given", "named", "see"),
    [
        (["package", "inspect"], "root.cbor", "is a signed trust root (a COSE_Sign, CBOR tag 98), "
         "not a package", "keybundle trust-root inspect"),
        (["package", "inspect"], "signed.cbor", "is a key bundle (a COSE_Sign1, CBOR tag 18), "
         "not a package", "keybundle bundle inspect"),
        (["package", "inspect"], "fleet.json", "is JSON text (a FLEET.json?), not a package",
         "keybundle bundle build"),
        (["trust-root", "inspect"], "signed.cbor", "is a key bundle (a COSE_Sign1, CBOR tag 18), "
         "not a trust root", "keybundle bundle inspect"),
        (["trust-root", "verify"], "independent.pub", "is a PEM key file, not a trust root",
         "keybundle keys show"),
    ],
)  # fmt: skip
def test_a_file_of_another_kind_is_named_with_the_command_for_it(
    world: World, command: list[str], given: str, named: str, see: str
) -> None:
    """Before: `package inspect ROOT` said only "tag 98 at offset 0 is not allowed here"
    (exit 1), and a FLEET.json "a text string ... needs 729618471753377125 bytes"."""
    assert world.sign(world.independent, "p.cbor").exit_code == 0
    result = run([*command, world.path(given)])
    assert result.exit_code == 2
    assert result.stderr == f"keybundle: error: {world.path(given)} {named}; see `{see}`\n"


def test_verify_names_a_file_of_another_kind(world: World, tmp_path: Path) -> None:
    from keybundle_cli.verify import run as run_verify

    state = tmp_path / "state"
    state.mkdir()
    args = ["--trust-root", str(world.root_file), "--state", str(state)]
    proc = subprocess.run(
        [str(KEYBUNDLE), "verify", *args, str(world.root_file)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"keybundle: error: {world.root_file} is a signed trust root")
    assert proc.stderr.count("\n") == 1
    assert run_verify([*args, "--json", str(world.fleet)]) == 2
    # Before: an empty --fleet was taken, and every package rejected WRONG_FLEET (exit 1).
    empty = subprocess.run(
        [str(KEYBUNDLE), "verify", *args, "--fleet", "", str(world.root_file)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert (empty.returncode, empty.stderr) == (
        2, "keybundle: error: --fleet is empty; give the fleet id the app expects, e.g. "
        "prod-eu.vault\n",
    )  # fmt: skip


# -- the probes of a new user (issue 13, second round) -------------------------------------------


def _probe_files(world: World) -> dict[str, str]:
    d = world.dir
    (d / "empty").write_bytes(b"")
    (d / "garbage").write_bytes(bytes(range(0x80, 0x100)) * 2)
    (d / "a-dir").mkdir(exist_ok=True)
    (d / "full").mkdir(exist_ok=True)
    (d / "full" / "notes.txt").write_text("not a monitor's\n")
    return {
        "LOGPUB": str(d / "log.pub"),
        "MISSING": str(d / "missing"),
        "FULL": str(d / "full"),
        "ROOT": str(world.root_file),
        "IND": str(world.independent.key),
        "INDPUB": str(world.independent.pub),
        "EMPTY": str(d / "empty"),
        "GARBAGE": str(d / "garbage"),
        "DIR": str(d / "a-dir"),
        "OUT": str(d / "out"),
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        # before: "... is neither a PEM public key nor a one-line verifier-key string"
        ("keys show IND", "IND is a role private key; `keys show` shows the public key file "
         "beside it (PREFIX.pub), and never prints a private key"),
        ("keys show EMPTY", "EMPTY is empty; give a public key file (PREFIX.pub)"),
        # before: "verifier key file ... must be one line ending in a newline"
        ("note verify ROOT --vkey INDPUB", "verifier key file INDPUB is a PEM key (a role key), "
         "not a note verifier key"),
        # before: "'utf-8' codec can't decode byte 0x80 in position 0: invalid start byte"
        ("note verify ROOT --vkey GARBAGE", "verifier key file GARBAGE is not UTF-8 text"),
        # before: "DIR: Is a directory"
        ("bundle verify ROOT --trust-root DIR", "trust root DIR is a directory; give a file"),
        ("package inspect DIR", "package DIR is a directory; give a file"),
        # before: "rejected (MALFORMED_COSE): ... tag 98 at offset 0 is not allowed here", exit 1
        ("bundle countersign --key IND --trust-root ROOT ROOT -o OUT", "ROOT is a signed trust "
         "root (a COSE_Sign, CBOR tag 98), not a bundle; see `keybundle trust-root inspect`"),
        # before: "note key file ... is neither a signer-key string nor a 'keybundle-note-key v1'"
        ("log init OUT --origin x --key IND", "key file IND is a role private key, not a "
         "signed-note private key; this needs a note key (`keybundle keys generate --type note`)"),
        # before: exit 0 and an empty report of a directory that is no monitor's
        ("monitor report --state FULL -o OUT", "FULL holds no monitor state (state.json) but "
         "other files"),
        # before: "... not deterministic CBOR ...: 177 trailing bytes after the data item"
        ("package inspect OUT --trust-root INDPUB", "INDPUB is a PEM key file, not a trust "
         "root; see `keybundle keys show`"),
        ("bundle inspect LOGPUB", "LOGPUB is a note verifier key, not a bundle; see "
         "`keybundle keys show`"),
        # before: "missing.txt: No such file or directory", not naming what it was
        ("trust-root sign --key IND --passphrase-file MISSING ROOT -o OUT",
         "cannot read passphrase file MISSING: No such file or directory"),
        # before: the bytes of the line, escaped, as "not a key fingerprint"
        ("monitor --once --trust-root ROOT --state OUT DIR --allow-keys GARBAGE",
         "--allow-keys GARBAGE is not UTF-8 text (byte 0)"),
    ],
)  # fmt: skip
def test_probes_get_one_line_that_names_the_mistake(world: World, args: str, message: str) -> None:
    files = _probe_files(world)
    argv = [files.get(word, word) for word in args.split()]
    message = re.sub(r"\b[A-Z]+\b", lambda m: files.get(m[0], m[0]), message)
    result = run(argv)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"keybundle: error: {message}"), result.stderr
    assert result.stderr.count("\n") == 1


def test_a_reader_that_stops_reading_ends_the_command_quietly(world: World, tmp_path: Path) -> None:
    """`keybundle verify ... | head -1` printed a BrokenPipeError traceback, and click commands
    'keybundle: error: Broken pipe' (exit 2). Now: exit 141, as SIGPIPE would, and silence."""
    import os

    from tests.keybundle.world import World as ClientWorld

    client = ClientWorld()
    root, package, state = tmp_path / "root.cbor", tmp_path / "p.cbor", tmp_path / "state"
    root.write_bytes(client.signed_root)
    package.write_bytes(client.fresh_package())
    state.mkdir()
    for args in (
        ["trust-root", "inspect", str(world.root_file)],
        ["verify", "--trust-root", str(root), "--state", str(state), "--now", str(client.now),
         str(package)],
    ):  # fmt: skip
        read_end, write_end = os.pipe()
        os.close(read_end)  # the reader is gone before the first line
        try:
            proc = subprocess.run(
                [str(KEYBUNDLE), *args], stdout=write_end, stderr=subprocess.PIPE,
                timeout=60, check=False,
            )  # fmt: skip
        finally:
            os.close(write_end)
        assert (proc.returncode, proc.stderr) == (141, b""), (args, proc.stderr)
