"""Tests for ``keybundle note sign`` and ``note verify`` (SPEC §2.4, CLI §10.2)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from keybundle_cli import _common
from transparency_log import note

from .test_keys_cli import (
    KEYBUNDLE,
    PASSPHRASE,
    assert_no_secret,
    run,
    run_child,
    secrets_of_note_key,
)

TEXT = "example.com/log\n42\nqUZ9aXIi7D9UDxIt4vhPfWn0tqnrjpCBJiZeZ1EvkIk=\n"


def make_key(tmp_path: Path, name: str, *, encrypted: bool = False) -> tuple[Path, str]:
    """A note key pair made by the CLI: (PREFIX.key, verifier-key string)."""
    env = {_common.PASSPHRASE_ENV: PASSPHRASE} if encrypted else None
    result = run(
        ["keys", "generate", "--type", "note", "--name", name, "--out", str(tmp_path / name),
         "--json"],
        env=env,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return tmp_path / f"{name}.key", json.loads(result.stdout)["result"]["vkey"]


@pytest.fixture
def signed(tmp_path: Path) -> tuple[Path, Path, str]:
    """(note file, key file, vkey) for TEXT signed by key 'alice'."""
    key, vkey = make_key(tmp_path, "alice")
    text = tmp_path / "msg.txt"
    text.write_text(TEXT)
    result = run(["note", "sign", "--key", str(key), str(text)])
    assert result.exit_code == 0, result.output
    out = tmp_path / "msg.note"
    out.write_text(result.stdout)
    return out, key, vkey


def test_sign_prints_exactly_the_library_signed_note(
    tmp_path: Path, signed: tuple[Path, Path, str]
) -> None:
    note_file, key, vkey = signed
    skey = key.read_text().strip()
    # Ed25519 is deterministic: the CLI adds nothing and changes nothing.
    assert note_file.read_text() == note.sign(TEXT, note.new_signer(skey))
    opened = note.open_note(note_file.read_bytes(), note.Verifiers([note.new_verifier(vkey)]))
    assert opened.text == TEXT


def test_verify_accepts_and_lists_names(tmp_path: Path, signed: tuple[Path, Path, str]) -> None:
    note_file, _, vkey = signed
    result = run(["note", "verify", str(note_file), "--vkey", vkey])
    assert result.exit_code == 0
    assert "alice" in result.stdout
    as_json = run(["note", "verify", str(note_file), "--vkey", vkey, "--json"])
    assert as_json.exit_code == 0
    assert json.loads(as_json.stdout)["result"] == {"verified": ["alice"], "unverified": []}


def test_verify_with_two_signers_and_one_known_key(tmp_path: Path) -> None:
    key_a, vkey_a = make_key(tmp_path, "alice")
    key_b, _ = make_key(tmp_path, "bob")
    signed = note.sign(
        TEXT,
        note.new_signer(key_a.read_text().strip()),
        note.new_signer(key_b.read_text().strip()),
    )
    path = tmp_path / "two.note"
    path.write_text(signed)
    result = run(["note", "verify", str(path), "--vkey", vkey_a, "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["result"] == {"verified": ["alice"], "unverified": ["bob"]}


def test_vkey_may_be_a_pub_file(tmp_path: Path, signed: tuple[Path, Path, str]) -> None:
    note_file, _, _ = signed
    result = run(["note", "verify", str(note_file), "--vkey", str(tmp_path / "alice.pub")])
    assert result.exit_code == 0


def test_wrong_key_is_untrusted_note(tmp_path: Path, signed: tuple[Path, Path, str]) -> None:
    note_file, _, _ = signed
    _, other = make_key(tmp_path, "mallory")
    result = run(["note", "verify", str(note_file), "--vkey", other])
    assert result.exit_code == 1
    assert result.stderr.startswith("rejected (UNTRUSTED_NOTE): ")
    assert result.stderr.count("\n") == 1
    assert result.stdout == ""
    as_json = run(["note", "verify", str(note_file), "--vkey", other, "--json"])
    assert as_json.exit_code == 1
    body = json.loads(as_json.stdout)
    assert body["error"]["reason"] == "UNTRUSTED_NOTE"
    assert body["error"]["message"]


def test_altered_text_is_bad_note_signature(tmp_path: Path, signed: tuple[Path, Path, str]) -> None:
    note_file, _, vkey = signed
    note_file.write_text(note_file.read_text().replace("42", "43"))
    result = run(["note", "verify", str(note_file), "--vkey", vkey, "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"]["reason"] == "BAD_NOTE_SIGNATURE"


def test_malformed_note_is_malformed_note(tmp_path: Path) -> None:
    _, vkey = make_key(tmp_path, "alice")
    path = tmp_path / "bad.note"
    path.write_text(TEXT)  # no signature block
    result = run(["note", "verify", str(path), "--vkey", vkey])
    assert result.exit_code == 1
    assert "rejected (MALFORMED_NOTE)" in result.stderr


@pytest.mark.parametrize(
    "vkey",
    [
        "not a key",
        "alice+0000000+AQ==",
        "alice+00000000+AXXX",
        "alice+00000000+" + "A" * 44,
    ],
)
def test_bad_vkey_strings_exit_2(signed: tuple[Path, Path, str], vkey: str) -> None:
    note_file, _, _ = signed
    result = run(["note", "verify", str(note_file), "--vkey", vkey])
    assert result.exit_code == 2
    assert "--vkey" in result.stderr
    as_json = run(["note", "verify", str(note_file), "--vkey", vkey, "--json"])
    assert as_json.exit_code == 2
    assert json.loads(as_json.stdout)["error"]["reason"] is None


def test_duplicate_vkeys_exit_2(signed: tuple[Path, Path, str]) -> None:
    note_file, _, vkey = signed
    result = run(["note", "verify", str(note_file), "--vkey", vkey, "--vkey", vkey])
    assert result.exit_code == 2
    assert "two verifiers" in result.stderr


def test_sign_refuses_text_without_final_newline(tmp_path: Path) -> None:
    key, _ = make_key(tmp_path, "alice")
    text = tmp_path / "t"
    text.write_text("no newline")
    result = run(["note", "sign", "--key", str(key), str(text)])
    assert result.exit_code == 2
    assert "newline" in result.stderr
    assert result.stdout == ""


def test_sign_reads_stdin(tmp_path: Path) -> None:
    key, vkey = make_key(tmp_path, "alice")
    result = run(["note", "sign", "--key", str(key), "-"], stdin=TEXT)
    assert result.exit_code == 0
    note.open_note(result.stdout.encode(), note.Verifiers([note.new_verifier(vkey)]))


def test_encrypted_note_key_needs_the_right_passphrase(tmp_path: Path) -> None:
    key, vkey = make_key(tmp_path, "alice", encrypted=True)
    text = tmp_path / "t"
    text.write_text(TEXT)
    missing = run(["note", "sign", "--key", str(key), str(text)])
    assert missing.exit_code == 2
    assert "KEYBUNDLE_PASSPHRASE" in missing.stderr
    wrong = run(
        ["note", "sign", "--key", str(key), str(text)],
        env={_common.PASSPHRASE_ENV: "wrong"},
    )
    assert wrong.exit_code == 2
    assert "wrong passphrase" in wrong.stderr
    ok = run(
        ["note", "sign", "--key", str(key), str(text)],
        env={_common.PASSPHRASE_ENV: PASSPHRASE},
    )
    assert ok.exit_code == 0
    note.open_note(ok.stdout.encode(), note.Verifiers([note.new_verifier(vkey)]))
    for result in (missing, wrong, ok):
        assert_no_secret(result, secrets_of_note_key(key, PASSPHRASE))


def test_sign_never_prints_the_key(tmp_path: Path, signed: tuple[Path, Path, str]) -> None:
    note_file, key, _ = signed
    for secret in secrets_of_note_key(key):
        assert secret not in note_file.read_text()


def test_missing_files_exit_2(tmp_path: Path) -> None:
    key, vkey = make_key(tmp_path, "alice")
    assert run(["note", "sign", "--key", str(key), str(tmp_path / "nope")]).exit_code == 2
    assert run(["note", "sign", "--key", str(tmp_path / "nope"), str(key)]).exit_code == 2
    assert run(["note", "verify", str(tmp_path / "nope"), "--vkey", vkey]).exit_code == 2


def test_subprocess_generate_sign_verify_without_passphrase(tmp_path: Path) -> None:
    """The acceptance flow: non-interactive, no passphrase anywhere."""
    env = {k: v for k, v in os.environ.items() if k != _common.PASSPHRASE_ENV}
    (tmp_path / "msg.txt").write_text(TEXT)
    script = (
        f'"{KEYBUNDLE}" keys generate --type note --name example.com/log --out log >/dev/null'
        f' && "{KEYBUNDLE}" keys generate --type note --name other --out other >/dev/null'
        f' && "{KEYBUNDLE}" note sign --key log.key msg.txt > msg.note'
        f' && "{KEYBUNDLE}" note verify msg.note --vkey "$(cat log.pub)" --json'
    )
    done = run_child(["bash", "-c", script], cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    vkey = (tmp_path / "log.pub").read_text()
    other = (tmp_path / "other.pub").read_text()
    envelope = json.loads(done.stdout)
    assert envelope["result"] == {"verified": ["example.com/log"], "unverified": []}
    assert vkey.startswith("example.com/log+")
    wrong = run_child(
        [str(KEYBUNDLE), "note", "verify", "msg.note", "--vkey", other.strip()],
        cwd=tmp_path,
        env=env,
    )
    assert wrong.returncode == 1
    assert wrong.stderr.startswith("rejected (UNTRUSTED_NOTE): ")
    assert "Traceback" not in wrong.stderr
