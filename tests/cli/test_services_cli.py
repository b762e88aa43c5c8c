"""The services as an operator runs them (OPS §6.6, CLI §10.6): a TOML ``--config`` file that
flags override, and the structured records, ``/healthz`` and ``/metrics`` of a real
``keybundle log serve`` process configured by such a file."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
import requests
from click.testing import CliRunner

from keybundle_cli.commands import cli as cli_main
from keybundle_cli.config import MAX_SERVICE_CONFIG_BYTES, config_option, load_config
from keybundle_cli.log import serve as log_serve
from keybundle_cli.witness import serve as witness_serve
from tests.cli.test_log_cli import ORIGIN, _keybundle, _start, _stop, _write_key

pytestmark = pytest.mark.timeout(60)


def test_a_config_file_names_options_as_on_the_command_line(tmp_path: Path) -> None:
    path = tmp_path / "log.toml"
    path.write_text('directory = "/var/lib/keybundle/log"\nlisten = "127.0.0.1:8080"\n'
                    "batch-size = 64\nbatch_max_age = 0.1\n")  # fmt: skip
    assert load_config(path, log_serve) == {
        "directory": "/var/lib/keybundle/log", "listen": "127.0.0.1:8080", "batch_size": 64,
        "batch_max_age": 0.1,
    }  # fmt: skip
    path.write_text('log = ["a+1+AQ", "b+2+AQ"]\nstate = "/var/lib/w"\n')
    assert load_config(path, witness_serve) == {
        "logs": ["a+1+AQ", "b+2+AQ"],
        "state_dir": "/var/lib/w",
    }


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("an unknown setting", "listne = 'x'\n", "unknown setting 'listne'"),
        ("a list for one value", "listen = ['a', 'b']\n", "takes one value, not a list"),
        ("a table", "[listen]\nx = 1\n", "is a table"),
        ("not TOML", "listen = \n", "is not valid TOML"),
        ("too large", "# " + "x" * MAX_SERVICE_CONFIG_BYTES + "\n", "is over"),
        ("a date", "threads = 1979-05-27\n", "'threads' is a date"),
        ("true for a number", "batch-size = true\n", "not a true/false setting"),
        ("a fraction for a whole number", "threads = 2.5\n", "takes a whole number"),
        ("infinity for a whole number", "threads = 1e400\n", "takes a whole number"),
        ("a table in a list", "listen = [{a = 1}]\n", "not a list"),
    ],
)
def test_a_bad_config_file_is_refused_with_its_reason(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(click.BadParameter, match=message):
        load_config(path, log_serve)


def test_a_binary_config_file_is_named_as_not_utf8(tmp_path: Path) -> None:
    """Before: "'utf-8' codec can't decode byte 0xb9 in position 0: invalid start byte"."""
    path = tmp_path / "bad.toml"
    path.write_bytes(b"\xb9listen = 1\n")
    with pytest.raises(click.BadParameter, match=r"bad.toml is not UTF-8 text \(byte 0\)"):
        load_config(path, log_serve)


def test_a_bad_value_type_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    """QA: ``threads = 1e400`` and ``threads = 1979-05-27`` crashed click's int conversion
    (OverflowError, TypeError) with a traceback; ``batch-size = true`` ran with 1."""
    for text in ("threads = 1e400\n", "threads = 1979-05-27\n", "batch-size = true\n"):
        path = tmp_path / "log.toml"
        path.write_text(f'directory = "{tmp_path}"\nlisten = "127.0.0.1:0"\n{text}')
        result = CliRunner().invoke(log_serve, ["--config", str(path)])
        assert result.exit_code == 2, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
        assert "Invalid value for '--config'" in result.output


def test_one_value_for_a_repeatable_setting_is_a_list_of_one(tmp_path: Path) -> None:
    """``log = "KEY"`` for the repeatable ``--log`` (click said "Value must be an
    iterable"); a table inside the list is refused."""
    path = tmp_path / "w.toml"
    path.write_text('log = "a+1+AQ"\n')
    assert load_config(path, witness_serve) == {"logs": ["a+1+AQ"]}
    path.write_text("log = [{a = 1}]\n")
    with pytest.raises(click.BadParameter, match="'log' is a dict"):
        load_config(path, witness_serve)


def test_flags_override_the_config_file(tmp_path: Path) -> None:
    @click.command()
    @click.option("--threads", type=int, default=1)
    @click.option("--listen", required=True)
    @config_option
    def cmd(threads: int, listen: str) -> None:
        click.echo(f"{threads} {listen}")

    path = tmp_path / "c.toml"
    path.write_text('threads = 3\nlisten = "from-file"\n')
    runner = CliRunner()
    assert runner.invoke(cmd, ["--config", str(path)]).output == "3 from-file\n"
    assert runner.invoke(cmd, ["--config", str(path), "--threads", "5"]).output == "5 from-file\n"
    assert runner.invoke(cmd, ["--threads", "5", "--config", str(path)]).output == "5 from-file\n"
    missing = runner.invoke(cmd, ["--config", str(tmp_path / "none.toml")])
    assert missing.exit_code == 2
    assert "cannot read" in missing.output


def test_log_serve_from_a_config_file_logs_health_and_metrics(tmp_path: Path) -> None:
    _write_key(tmp_path / "log.key")
    directory = tmp_path / "log"
    init = _keybundle("log", "init", directory, "--origin", ORIGIN, "--key", tmp_path / "log.key")
    assert init.returncode == 0, init.stderr
    config = tmp_path / "log.toml"
    config.write_text(f'directory = "{directory}"\nlisten = "127.0.0.1:0"\nthreads = 4\n')
    server, url = _start("log", "serve", "--config", config)
    try:
        assert requests.post(f"{url}/add", data=b"one entry", timeout=30).status_code == 200
        assert requests.post(f"{url}/add", data=b"", timeout=30).status_code == 400
        health = requests.get(f"{url}/healthz", timeout=10)
        metrics = requests.get(f"{url}/metrics", timeout=10).text
    finally:
        assert _stop(server) == 0
    assert (health.status_code, health.text) == (200, "ok size 1\n")
    assert "keybundle_log_appends_total 1.0" in metrics
    assert server.stderr is not None
    lines = server.stderr.read().splitlines()
    # After the "listening" line (read by _start), one JSON object a line, the note that the
    # log has no witnesses yet included (OPS §6.6).
    records = [json.loads(line) for line in lines]
    assert any("no witnesses yet" in r["message"] for r in records), records
    (append,) = [r for r in records if r.get("event") == "append"]
    assert (append["index"], append["logger"], append["level"]) == (0, "keybundle.service", "info")
    assert any(r.get("event") == "refusal" and r["code"] == 400 for r in records)


def test_the_package_publisher_as_a_service_from_a_config_file(tmp_path: Path) -> None:
    """``package publish --follow --listen`` (OPS §7.7, §6.6): /healthz, /metrics and one
    record per pass, its settings from ``--config``."""
    import time

    from tests.keybundle.fleetlog import FleetLog
    from tests.keybundle.world import World

    fl = FleetLog(tmp_path / "log", World(now=int(time.time())))  # publish reads the clock
    fl.add_bundle("a.vault")
    fl.cosign()
    (tmp_path / "root.cbor").write_bytes(fl.signed_roots[1])
    config = tmp_path / "publisher.toml"
    config.write_text(
        f'log = "{fl.root}"\nout = "{tmp_path / "out"}"\ntrust-root = "{tmp_path / "root.cbor"}"\n'
        'follow = true\ninterval = 0.2\nlisten = "127.0.0.1:0"\n'
    )
    server, url = _start("package", "publish", "--config", config)
    try:
        deadline = time.monotonic() + 30
        health = requests.get(f"{url}/healthz", timeout=10)
        while health.text.startswith("ok starting") and time.monotonic() < deadline:
            time.sleep(0.05)
            health = requests.get(f"{url}/healthz", timeout=10)
        metrics = requests.get(f"{url}/metrics", timeout=10).text
        other = requests.get(f"{url}/fleets/a.vault.cbor", timeout=10)
    finally:
        assert _stop(server) == 0
    assert (health.status_code, health.text) == (
        200,
        "ok published 1 fleet(s) at checkpoint size 1\n",
    )
    assert 'keybundle_publisher_passes_total{result="changed"} 1.0' in metrics
    assert "keybundle_publisher_fleets 1.0" in metrics
    assert other.status_code == 404  # the packages are nginx's to serve, not this address's
    assert server.stderr is not None
    records = [json.loads(line) for line in server.stderr.read().splitlines()]
    (published,) = [r for r in records if r.get("event") == "publish"]
    assert (published["logger"], published["size"], published["fleets"]) == (
        "keybundle.publisher_service", 1, 1
    )  # fmt: skip


def test_listen_without_follow_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli_main, ["package", "publish", "--log", str(tmp_path), "--out", str(tmp_path / "o"),
                   "--listen", "127.0.0.1:0"],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "--listen serves the health of a running publisher: add --follow" in result.output
