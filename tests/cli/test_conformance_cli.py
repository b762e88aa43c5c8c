"""Tests for ``keybundle conformance run`` and ``keybundle vectors generate``.

CLI §10.11, SPEC §12.
"""

from __future__ import annotations

import json
import shlex
import shutil
import sys
from pathlib import Path

import pytest

from testvectors.generate import DEFAULT_DIR

from .test_keys_cli import run

pytestmark = pytest.mark.timeout(120)

ADAPTER = shlex.join([sys.executable, "-m", "keybundle.conformance", "--adapter"])
SAMPLE = {
    "merkle": "inclusion-rfc9162-index-5-size-8",
    "note": "go-note-one-known-one-unknown-signer",
    "cose": "countersignature-over-other-signature",
    "admission": "admission-epoch-gap",
    "client": "sequence-accept-rollback-replay-conflict-advance",
    "tiles": "tile-path-width-256",
}


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    """A vectors directory holding one vector of a few families (copies of the published)."""
    root = tmp_path / "vectors"
    for family, name in SAMPLE.items():
        (root / family).mkdir(parents=True)
        shutil.copyfile(DEFAULT_DIR / family / f"{name}.json", root / family / f"{name}.json")
    return root


def _summary(output: str) -> str:
    return output.rstrip("\n").split("\n")[-1]


def test_run_without_verifier_uses_our_library_on_the_published_vectors() -> None:
    result = run(["conformance", "run"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    count = len(list(DEFAULT_DIR.glob("*/*.json")))
    assert lines[-1] == f"{count} passed, 0 failed"
    assert "PASS client/split-view" in lines


def test_family_filter_and_quiet(sample: Path) -> None:
    result = run(["conformance", "run", "--vectors", str(sample), "--family", "tiles", "--quiet"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "1 passed, 0 failed\n"


def test_external_adapter_end_to_end(sample: Path) -> None:
    result = run(
        ["conformance", "run", "--vectors", str(sample), "--verifier", ADAPTER, "--jobs", "2"]
    )
    assert result.exit_code == 0, result.output
    assert _summary(result.stdout) == f"{len(SAMPLE)} passed, 0 failed"
    assert f"PASS client/{SAMPLE['client']}" in result.stdout.splitlines()


def test_a_changed_expectation_fails_that_vector(sample: Path) -> None:
    path = sample / "tiles" / f"{SAMPLE['tiles']}.json"
    vector = json.loads(path.read_text())
    vector["expect"]["reason"] = "MALFORMED_NOTE"
    path.write_text(json.dumps(vector))
    result = run(["conformance", "run", "--vectors", str(sample)])
    assert result.exit_code == 1
    assert (
        f"FAIL tiles/{SAMPLE['tiles']}: expected reject MALFORMED_NOTE, got reject MALFORMED_TILE"
        in result.stdout
    )
    assert _summary(result.stdout) == f"{len(SAMPLE) - 1} passed, 1 failed"


def test_a_verifier_that_accepts_everything_fails(sample: Path, tmp_path: Path) -> None:
    liar = tmp_path / "liar.py"
    liar.write_text('import sys\nsys.stdin.read()\nprint(\'{"result": "accept"}\')\n')
    command = shlex.join([sys.executable, str(liar)])
    result = run(["conformance", "run", "--vectors", str(sample), "--verifier", command])
    assert result.exit_code == 1
    assert (
        "FAIL tiles/tile-path-width-256: expected reject MALFORMED_TILE, got accept"
        in result.stdout
    )
    assert "expected a results list" in result.stdout
    assert _summary(result.stdout).endswith(" failed")
    assert not _summary(result.stdout).endswith(" 0 failed")


def test_a_slow_verifier_times_out(sample: Path, tmp_path: Path) -> None:
    slow = tmp_path / "slow.py"
    slow.write_text("import time\ntime.sleep(30)\n")
    command = shlex.join([sys.executable, str(slow)])
    args = ["conformance", "run", "--vectors", str(sample), "--family", "tiles"]
    result = run([*args, "--verifier", command, "--timeout", "0.5"])
    assert result.exit_code == 1
    assert "did not answer within 0.5 s" in result.stdout
    assert _summary(result.stdout) == "0 passed, 1 failed"


def test_a_verifier_that_cannot_run_is_one_usage_error(sample: Path, tmp_path: Path) -> None:
    """Not one FAIL per vector (issue 13): one line, exit 2, before any vector runs."""
    missing = str(tmp_path / "no-such-adapter")
    result = run(["conformance", "run", "--vectors", str(sample), "--verifier", missing])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert (
        result.stderr
        == f"keybundle: error: --verifier: {missing} does not exist (give the adapter's path)\n"
    )
    not_executable = tmp_path / "adapter.sh"
    not_executable.write_text("#!/bin/sh\n")
    result = run(
        ["conformance", "run", "--vectors", str(sample), "--verifier", str(not_executable)]
    )
    assert result.exit_code == 2
    assert "is not executable" in result.stderr
    result = run(["conformance", "run", "--vectors", str(sample), "--verifier", "no-such-cmd-x"])
    assert result.exit_code == 2
    assert "is not a command on PATH" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--vectors", "{tmp}/missing"], "no such vectors directory"),
        (["--vectors", "{tmp}/empty"], "holds no vectors"),
        (["--verifier", "'unterminated"], "--verifier"),
        (["--verifier", "  "], "--verifier is empty"),
    ],
)
def test_usage_errors_exit_2(tmp_path: Path, sample: Path, args: list[str], message: str) -> None:
    (tmp_path / "empty").mkdir()
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if "--vectors" not in args:
        args = [*args, "--vectors", str(sample)]
    result = run(["conformance", "run", *args])
    assert result.exit_code == 2
    assert message in result.stderr


def test_a_damaged_vector_file_is_a_usage_error(sample: Path) -> None:
    (sample / "tiles" / "broken.json").write_text("{")
    result = run(["conformance", "run", "--vectors", str(sample)])
    assert result.exit_code == 2
    assert "broken.json" in result.stderr


def test_generate_check_passes_on_the_published_vectors() -> None:
    result = run(["vectors", "generate", "--check"])
    assert result.exit_code == 0, result.output
    assert "up to date" in result.stdout


def test_generate_writes_and_check_reports_each_difference(tmp_path: Path) -> None:
    out = tmp_path / "vectors"
    result = run(["vectors", "generate", "--out", str(out)])
    assert result.exit_code == 0, result.output
    count = len(list(out.glob("*/*.json")))
    assert result.stdout == f"wrote {count} vectors to {out}\n"
    assert count == len(list(DEFAULT_DIR.glob("*/*.json")))

    changed = out / "tiles" / "tile-path-partial.json"
    changed.write_text(changed.read_text().replace('"width": 17', '"width": 18'))
    (out / "cbor" / "cbor-empty-input.json").unlink()
    extra = out / "note" / "an-old-case.json"
    shutil.copyfile(out / "note" / "c2sp-example-note.json", extra)
    (out / "note" / "README.txt").write_text("not a vector")

    result = run(["vectors", "generate", "--check", "--out", str(out)])
    assert result.exit_code == 1
    assert "3 vector file(s) differ" in result.stderr
    assert "changed: tiles/tile-path-partial.json" in result.stderr
    assert "missing: cbor/cbor-empty-input.json" in result.stderr
    assert "extra: note/an-old-case.json" in result.stderr
    assert '+    "width": 17' in result.stderr

    # Writing again restores the vectors, removes the stale one, keeps other files.
    assert run(["vectors", "generate", "--out", str(out)]).exit_code == 0
    assert not extra.exists()
    assert (out / "note" / "README.txt").exists()
    assert run(["vectors", "generate", "--check", "--out", str(out)]).exit_code == 0


def test_check_of_a_missing_directory_exits_2(tmp_path: Path) -> None:
    result = run(["vectors", "generate", "--check", "--out", str(tmp_path / "missing")])
    assert result.exit_code == 2
    assert "no such vectors directory" in result.stderr


def test_run_finds_the_installed_vectors_from_any_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from keybundle_cli import vectors

    # In this (editable) install the installed vectors are the checkout's testvectors/.
    assert vectors.installed_vectors_dir() == DEFAULT_DIR
    assert vectors.default_vectors_dir() == DEFAULT_DIR
    monkeypatch.chdir(tmp_path)
    result = run(["conformance", "run", "--family", "tiles", "--quiet"])
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith(" passed, 0 failed\n")


def test_run_without_any_vectors_says_where_to_get_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from keybundle_cli import vectors

    monkeypatch.setattr(vectors, "installed_vectors_dir", lambda: None)
    monkeypatch.setattr(vectors, "checkout_vectors_dir", lambda: None)
    monkeypatch.chdir(tmp_path)
    result = run(["conformance", "run"])
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert line == f"keybundle: error: {vectors.NO_VECTORS_MESSAGE}"
    assert "pip install" in line
    assert "--vectors DIR" in line
