"""What each service logs for one append (issue 14, OPS §6.6): a real run on 127.0.0.1.

Sets up a log with ``keybundle demo`` (keys, trust root v1 then v2, four entries), then runs
the four services as an operator would, each as its own process: ``witness serve``, ``log
serve`` (with that witness), ``package publish --follow --listen`` and ``monitor follow
--json --verbose``. Once every one has settled, it appends one bundle (fleet prod-eu.vault,
epoch 4, built, signed and countersigned with the ``keybundle bundle`` commands) with
``POST /add``, waits until the publisher and the monitor have seen it, stops everything with
SIGTERM, and prints the lines each service wrote from the append on, as Markdown.

    .venv/bin/python scripts/operations_logs.py > docs/operations-logs.md

tests/test_operations_logs.py checks the records in docs/operations-logs.md against the shapes
OPS §6.6 gives, so a change to a record shows there.
"""

from __future__ import annotations

import hashlib
import json
import re
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import requests

KEYBUNDLE = [sys.executable, "-m", "keybundle_cli"]
DEADLINE = 60.0


def _run(*args: str | Path) -> str:
    done = subprocess.run([*KEYBUNDLE, *map(str, args)], capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"keybundle {' '.join(map(str, args))}: {done.stderr}")
    return done.stdout


class Service:
    """A keybundle process writing standard output and error to one file."""

    def __init__(self, name: str, logs: Path, *args: str | Path) -> None:
        self.name = name
        self.path = logs / f"{name}.log"
        self._file = self.path.open("w")
        self.process = subprocess.Popen(
            [*KEYBUNDLE, *map(str, args)], stdout=self._file, stderr=subprocess.STDOUT
        )
        self.mark = 0

    def text(self) -> str:
        return self.path.read_text(encoding="utf-8", errors="replace")

    def wait_for(self, pattern: str) -> re.Match[str]:
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            found = re.search(pattern, self.text()[self.mark :])
            if found is not None:
                return found
            if self.process.poll() is not None:
                raise SystemExit(f"{self.name} exited {self.process.returncode}:\n{self.text()}")
            time.sleep(0.05)
        raise SystemExit(f"{self.name}: no {pattern!r} in time:\n{self.text()}")

    def url(self) -> str:
        return self.wait_for(r"listening on (http://127\.0\.0\.1:\d+)").group(1)

    def set_mark(self) -> None:
        self.mark = len(self.text())

    def stop(self) -> str:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait(timeout=10)
            self._file.close()
        return self.text()[self.mark :]


def _wait_http(url: str, pattern: str) -> str:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        text = requests.get(url, timeout=5).text
        if re.search(pattern, text):
            return text
        time.sleep(0.1)
    raise SystemExit(f"{url}: no {pattern!r} in time")


def _epoch_4(work: Path) -> Path:
    """The next bundle of the demo's fleet, signed under trust root v2 (its rotation is in
    the log: read back here, as the publisher reads it)."""
    from keybundle.publisher import LogHistory, log_client_for
    from keybundle.trustroot import verify_self_signed
    from transparency_log.fetcher import DirectoryFetcher

    start = verify_self_signed((work / "trust-root.cbor").read_bytes())
    client = log_client_for(DirectoryFetcher(work / "log"), start)
    history = LogHistory(start)
    history.scan(client, client.fetch_checkpoint())
    (work / "trust-root-v2.cbor").write_bytes(history.rotations[-1].signed)
    payload = json.loads((work / "bundles" / "epoch-3.json").read_text())
    now = int(time.time())
    previous = hashlib.sha256((work / "bundles" / "epoch-3.cose").read_bytes()).hexdigest()
    payload.update(epoch=4, issued_at=now, not_before=now - 3600, not_after=now + 30 * 86400,
                   previous_digest=previous)  # fmt: skip
    (work / "bundles" / "epoch-4.json").write_text(json.dumps(payload))
    b = work / "bundles"
    passphrase = ("--passphrase-file", work / "keys" / "passphrase.txt")
    _run("bundle", "build", b / "epoch-4.json", "-o", b / "epoch-4.payload")
    keys = work / "keys"
    _run("bundle", "sign", b / "epoch-4.payload", "--key", keys / "independent.key",
         "-o", b / "epoch-4.signed", *passphrase)  # fmt: skip
    _run("bundle", "countersign", b / "epoch-4.signed", "--key", keys / "operator-v2.key",
         "--trust-root", work / "trust-root-v2.cbor", "-o", b / "epoch-4.cose",
         *passphrase)  # fmt: skip
    return b / "epoch-4.cose"


def run(work: Path) -> dict[str, str]:
    """The services' output from the append on, by service."""
    _run("demo", "--workdir", work)
    bundle = _epoch_4(work)
    logs = work / "service-logs"
    logs.mkdir()
    keys = work / "keys"
    services: list[Service] = []
    try:
        witness = Service("witness", logs, "witness", "serve", "--key", keys / "witness.key",
                          "--log", keys / "log.pub", "--state", work / "witness-state",
                          "--listen", "127.0.0.1:0")  # fmt: skip
        services.append(witness)
        witness_url = witness.url()
        policy = (work / "policy.txt").read_text()
        policy = re.sub(r"(?m)^(witness w1 \S+)$", rf"\1 {witness_url}", policy)
        (work / "policy-served.txt").write_text(policy)
        _run("log", "witnesses", work / "log", "--set", work / "policy-served.txt")
        log = Service("log", logs, "log", "serve", work / "log", "--listen", "127.0.0.1:0")
        services.append(log)
        log_url = log.url()
        publisher = Service("publisher", logs, "package", "publish", "--log", log_url,
                            "--trust-root", work / "trust-root.cbor", "--out", work / "published",
                            "--follow", "--interval", "0.5", "--listen", "127.0.0.1:0")  # fmt: skip
        services.append(publisher)
        publisher_url = publisher.url()
        monitor = Service("monitor", logs, "monitor", "follow", log_url, "--trust-root",
                          work / "trust-root.cbor", "--state", work / "monitor-state-live",
                          "--json", "--verbose", "--interval", "1")  # fmt: skip
        services.append(monitor)
        _wait_http(f"{publisher_url}/healthz", r"^ok published 1 fleet\(s\) at checkpoint size 4")
        monitor.wait_for(r'"size": 4\b')
        time.sleep(0.5)
        for service in services:
            service.set_mark()
        answer = requests.post(f"{log_url}/add", data=bundle.read_bytes(), timeout=60)
        if answer.status_code != 200:
            raise SystemExit(f"POST /add: {answer.status_code} {answer.text}")
        _wait_http(f"{publisher_url}/healthz", r"^ok published 1 fleet\(s\) at checkpoint size 5")
        monitor.wait_for(r'"event": "pass".*"size": 5\b')
        # The readers first, so that none of them sees the log go away.
        return {service.name: service.stop() for service in reversed(services)}
    finally:
        for service in services:
            if service.process.poll() is None:
                service.stop()


def _fence(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return "```\n" + "\n".join(lines) + "\n```\n"


HEADER = """\
# What each service logs for one append

The closing note of issue 14 ("Operate it"): the records each service writes when one
bundle is appended, from a real run on 127.0.0.1 — the log, its witness, the package
publisher and the monitor, each its own process with the settings an operator would give it
(OPS §6.6). Regenerate with `.venv/bin/python scripts/operations_logs.py >
docs/operations-logs.md`; `tests/test_operations_logs.py` checks every record below against
the shapes OPS §6.6 gives. Times, durations, keys and signatures differ from run to run.

The run: `keybundle demo` makes the keys, trust roots v1 and v2, and a log of four entries;
then `witness serve`, `log serve` (the witness configured with `log witnesses --set`),
`package publish --follow --interval 0.5 --listen` and `monitor follow --json --verbose
--interval 1` start, and once the publisher and the monitor have seen size 4, one bundle
(prod-eu.vault epoch 4) is sent with `POST /add`. Below is everything each one wrote from that
moment until it was stopped with SIGTERM (standard output and standard error together; the
publisher's passes that found nothing new are `debug` records, not shown at the default
level).
"""

SECTIONS = (
    ("log", "The log (`keybundle log serve`)",
     "The publication round of the new checkpoint (its witness asked, the quorum met), then the "
     "append itself, answered once the checkpoint holding it was cosigned."),
    ("witness", "The witness (`keybundle witness serve`)",
     "One cosignature: the new checkpoint, consistent with the tree it held."),
    ("publisher", "The package publisher (`keybundle package publish --follow --listen`)",
     "One pass that wrote every fleet's package at the new size."),
    ("monitor", "The monitor (`keybundle monitor follow --json --verbose`)",
     "Its pass over the new entry: the checkpoint, the epoch with its keys, the pass's summary."),
)  # fmt: skip


def markdown(outputs: dict[str, str]) -> str:
    parts = [HEADER]
    for name, title, what in SECTIONS:
        wrapped = textwrap.fill(what, width=96)
        parts.append(f"\n## {title}\n\n{wrapped}\n\n{_fence(outputs[name])}")
    return "".join(parts)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="keybundle-ops-") as tmp:
        outputs = run(Path(tmp) / "work")
    sys.stdout.write(markdown(outputs))


if __name__ == "__main__":
    main()
