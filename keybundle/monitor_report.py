"""OPS §8.6: the auditor's report, one static HTML page with the same data as JSON and CSV.

:func:`build_report` gathers, from a monitor's state directory, what a person auditing the
log wants to read: the state (:mod:`keybundle.monitor_state`: the checkpoint checked, each
fleet's head), the history (:mod:`keybundle.monitor_history`: every epoch with its date,
signers and key changes, rotations, passes with checkpoint and witness freshness) and every
evidence file (:mod:`keybundle.evidence`) with the command that re-checks it. The numbers
come from the state (log size, fleet heads); the history adds what happened over time.
:func:`render_html` makes a self-contained page (inline CSS and SVG plots from
:mod:`keybundle.report_svg`; no script, nothing fetched); :func:`render_csv` the tables.

Nothing here is verified again: the report shows what the monitor verified. Evidence is
shown as parsed (shape only); the command beside it is how anyone checks it.
"""

from __future__ import annotations

import csv
import html
import io
import json
import shlex
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from transparency_log.checkpoint import parse_checkpoint
from transparency_log.note import parse_unverified

from .errors import VerificationError
from .evidence import MAX_EVIDENCE_BYTES, parse_unverified_evidence
from .history import KeyInfo
from .monitor_history import read_history
from .monitor_state import EVIDENCE_DIR, StateDir
from .report_svg import Series, line_chart

__all__ = ["REPORT_FORMAT", "build_report", "render_csv", "render_html"]

REPORT_FORMAT: Final = "keybundle-monitor-report/v2"
"""The ``format`` member of ``report.json`` (OPS §8.6)."""
MAX_EVIDENCE_FILES: Final = 10_000
"""Evidence files listed in one report; more are counted, not listed (SPEC §11)."""
_HTML_PASSES: Final = 200
"""Passes listed in the page's table (all are in the CSV and JSON)."""


def _date(t: int | None) -> str:
    if t is None:
        return ""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _checkpoint(note: bytes | None) -> dict[str, Any] | None:
    if note is None:
        return None
    text, _ = parse_unverified(note)
    cp = parse_checkpoint(text)
    return {"origin": cp.origin, "size": cp.size, "root": cp.root_hash.hex(),
            "note": note.decode("utf-8")}  # fmt: skip


def _evidence(state: Path, trust_root: str) -> tuple[list[dict[str, Any]], int]:
    directory = state / EVIDENCE_DIR
    files = sorted(directory.glob("*.json")) if directory.is_dir() else []
    out = []
    for path in files[:MAX_EVIDENCE_FILES]:
        row: dict[str, Any] = {"file": str(path)}
        command = ["keybundle", "evidence", "verify", str(path), "--trust-root", trust_root]
        row["command"] = shlex.join(command)
        try:
            with path.open("rb") as f:
                obj = parse_unverified_evidence(f.read(MAX_EVIDENCE_BYTES + 1))
        except (OSError, VerificationError) as e:
            row.update(kind=None, reason=None, origin=None, observed_at=None, index=None,
                       message=f"unreadable: {getattr(e, 'message', e)}")  # fmt: skip
        else:
            row.update({k: obj.get(k) for k in ("kind", "reason", "origin", "observed_at")})
            row["index"] = obj.get("index")
            row["message"] = obj.get("message")
        out.append(row)
    return out, len(files)


def build_report(state_dir: Path, *, now: int, trust_root: str = "TRUST_ROOT") -> dict[str, Any]:
    """The report's data (OPS §8.6), from the state directory at ``state_dir``.

    ``trust_root`` is the path shown in the commands that re-check evidence. Raises
    :class:`~keybundle.errors.CorruptStateError` for a corrupt state or history.
    """
    directory = StateDir(state_dir)
    state = directory.load()
    records = read_history(state_dir)
    # After a crash, a pass re-reports events from its last saved index: keep the last.
    epochs: dict[tuple[str, int, int], dict[str, Any]] = {}
    rotations: dict[int, dict[str, Any]] = {}
    passes = []
    for r in records:
        kind = r["record"]
        if kind == "epoch":
            epochs[(r["fleet"], r["epoch"], r["index"])] = r
        elif kind == "trust_root":
            rotations[r["index"]] = {"index": r["index"], "version": r["version"],
                                     "seen": r["time"]}  # fmt: skip
        elif kind == "pass":
            passes.append({k: v for k, v in r.items() if k != "record"})
    fleets = []
    for name in sorted(state.fleets):
        head = state.fleets[name]
        history = sorted(
            (e for (fleet, _, _), e in epochs.items() if fleet == name), key=lambda e: e["index"]
        )
        fleets.append(
            {
                "fleet": name,
                "epoch": head.epoch,
                "index": head.index,
                "digest": head.digest.hex(),
                "keys": [_key_json(k) for k in head.keys],
                "history": [
                    {
                        "epoch": e["epoch"],
                        "index": e["index"],
                        "digest": e["digest"],
                        "issued_at": e["issued_at"],
                        "seen": e["time"],
                        "signers": e["signers"],
                        "added": e["added"],
                        "removed": e["removed"],
                        "kept": e["kept"],
                    }
                    for e in history
                    if e["index"] <= head.index
                ],
            }
        )
    evidence, evidence_files = _evidence(state_dir, trust_root)
    checked = _checkpoint(state.checkpoint)
    return {
        "format": REPORT_FORMAT,
        "generated_at": now,
        "state": str(state_dir),
        "log": {
            "origin": None if checked is None else checked["origin"],
            "verified_size": None if checked is None else checked["size"],
            "checked_entries": state.size,
            "checkpoint": checked,
            "following": _checkpoint(state.target),
        },
        "fleets": fleets,
        "rotations": [rotations[i] for i in sorted(rotations)],
        "passes": passes,
        "evidence": evidence,
        "evidence_files": evidence_files,
    }


def _key_json(key: KeyInfo) -> dict[str, str]:
    """A fleet key of the report: ``id`` as in every CLI output (CLI §10.1; format v2)."""
    return {"id": key.key_id, "algorithm": key.algorithm, "usage": key.usage,
            "fingerprint": key.fingerprint}  # fmt: skip


def _csv(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def _keys_text(keys: Sequence[Mapping[str, str]]) -> str:
    return " ".join(f"{k['id']}={k['fingerprint']}" for k in keys)


def render_csv(report: Mapping[str, Any]) -> dict[str, str]:
    """``epochs.csv``, ``passes.csv`` and ``evidence.csv``: the report's tables (OPS §8.6)."""
    epochs = [
        [f["fleet"], e["epoch"], e["index"], e["digest"], _date(e["issued_at"]), _date(e["seen"]),
         " ".join(e["signers"]), _keys_text(e["added"]), _keys_text(e["removed"]), e["kept"]]
        for f in report["fleets"]
        for e in f["history"]
    ]  # fmt: skip
    passes = [
        [_date(p["time"]), p["status"], p.get("log_size"), p["size"], p.get("verified_size"),
         p.get("checked"), p.get("checkpoint_age"), json.dumps(p.get("witness_ages", {}),
                                                               sort_keys=True)]
        for p in report["passes"]
    ]  # fmt: skip
    evidence = [
        [e["file"], e["kind"], e["reason"], e["index"], _date(e["observed_at"]), e["message"],
         e["command"]]
        for e in report["evidence"]
    ]  # fmt: skip
    return {
        "epochs.csv": _csv(
            [
                "fleet",
                "epoch",
                "index",
                "digest",
                "issued_at",
                "seen",
                "signers",
                "added",
                "removed",
                "kept",
            ],
            epochs,
        ),
        "passes.csv": _csv(
            [
                "time",
                "status",
                "log_size",
                "checked_size",
                "verified_size",
                "checked",
                "checkpoint_age",
                "witness_ages",
            ],
            passes,
        ),
        "evidence.csv": _csv(
            ["file", "kind", "reason", "index", "observed_at", "message", "command"], evidence
        ),
    }


_CSS: Final = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:1100px;
color:#222;padding:0 1em}h1{margin-bottom:.2em}h2{border-bottom:1px solid #ccc;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0;font-size:13px}td,th{border:1px solid #ddd;
padding:3px 6px;text-align:left;vertical-align:top}th{background:#f4f4f4}
code,.mono{font-family:ui-monospace,monospace;font-size:12px;word-break:break-all}
.ok{color:#1a7f37;font-weight:bold}.bad{color:#c62828;font-weight:bold}
.warn{color:#9a6700;font-weight:bold}.muted{color:#777}details{margin:.3em 0}
.plots svg{display:block;margin:.8em 0;border:1px solid #eee}
tr.evidence td:last-child{min-width:24em}
"""


def _status_class(status: str) -> str:
    return {"clean": "ok", "misbehaviour": "bad"}.get(status, "warn")


def _age(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"


def _plots(passes: Sequence[Mapping[str, Any]]) -> str:
    def when(t: int) -> str:
        return _date(t)[:16]

    growth = Series("log size", [(p["time"], p.get("log_size")) for p in passes])
    verified = Series("verified size", [(p["time"], p.get("verified_size")) for p in passes])
    age = Series("newest cosignature", [(p["time"], p.get("checkpoint_age")) for p in passes])
    names = sorted({n for p in passes for n in p.get("witness_ages", {})})
    witnesses = [
        Series(n, [(p["time"], p.get("witness_ages", {}).get(n)) for p in passes]) for n in names
    ]
    return "".join(
        [
            line_chart(
                "Log growth (entries)", [growth, verified], x_label=when, y_label=lambda y: f"{y:,}"
            ),
            line_chart(
                "Checkpoint freshness (age of the newest cosignature)",
                [age],
                x_label=when,
                y_label=_age,
            ),
            line_chart(
                "Witness freshness (age of each witness's cosignature)",
                witnesses,
                x_label=when,
                y_label=_age,
            ),
        ]
    )


def render_html(report: Mapping[str, Any]) -> str:
    """The report as one self-contained HTML page (OPS §8.6): no script, nothing fetched."""
    e = html.escape
    log = report["log"]
    passes = report["passes"]
    last = passes[-1] if passes else None
    origin = log["origin"] or "a log (no checkpoint verified yet)"
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">",
        f"<title>Audit of {e(origin)}</title><style>{_CSS}</style></head><body>",
        f"<h1>Audit of {e(origin)}</h1>",
        f'<p class="muted">Generated {e(_date(report["generated_at"]))} from the monitor state '
        f"<code>{e(report['state'])}</code>.</p>",
        '<h2 id="summary">Summary</h2><table>',
    ]
    evidence = report["evidence"]
    rows = [
        ("Log", e(origin)),
        ("Verified size", f'<span id="verified-size">{log["verified_size"]}</span>'),
        ("Entries checked", f'<span id="checked-entries">{log["checked_entries"]}</span>'),
        ("Fleets", f'<span id="fleet-count">{len(report["fleets"])}</span>'),
        ("Trust-root rotations", str(len(report["rotations"]))),
        (
            "Evidence files",
            f'<span id="evidence-count" class="{"bad" if evidence else "ok"}">'
            f"{report['evidence_files']}</span>",
        ),
    ]
    if log["checkpoint"] is not None:
        rows.append(("Root hash", f"<code>{e(log['checkpoint']['root'])}</code>"))
    if log["following"] is not None:
        rows.append(("Being checked", f"size {log['following']['size']}"))
    if last is not None:
        status = last["status"]
        rows.append(
            (
                "Last recorded pass",
                f'<span class="{_status_class(status)}">{e(status)}</span> at '
                f"{e(_date(last['time']))}",
            )
        )
        if last.get("checkpoint_age") is not None:
            rows.append(("Newest cosignature then", _age(last["checkpoint_age"]) + " old"))
        for label, key in (("Witnesses missing", "missing_witnesses"),
                           ("Witnesses stale", "stale_witnesses")):  # fmt: skip
            if last.get(key):
                rows.append((label, f'<span class="warn">{e(", ".join(last[key]))}</span>'))
    out += [f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows]
    out.append("</table>")

    out.append('<h2 id="plots">Over time</h2><div class="plots">')
    out.append(_plots(passes))
    out.append("</div>")

    out.append('<h2 id="evidence">Evidence</h2>')
    if not evidence:
        out.append('<p class="ok">No misbehaviour was found: no evidence file.</p>')
    else:
        out.append(
            "<p>Each file proves its finding to anyone holding the trust root, offline, with "
            "the command beside it.</p><table><tr><th>Finding</th><th>Entry</th><th>Observed"
            "</th><th>Message</th><th>Re-check with</th></tr>"
        )
        for ev in evidence:
            out.append(
                f'<tr class="evidence"><td class="bad">{e(str(ev["kind"]))}<br>'
                f"{e(str(ev['reason']))}</td><td>{'' if ev['index'] is None else ev['index']}"
                f"</td><td>{e(_date(ev['observed_at']))}</td><td>{e(str(ev['message']))}</td>"
                f"<td><code>{e(ev['command'])}</code></td></tr>"
            )
        out.append("</table>")
        if report["evidence_files"] > len(evidence):
            out.append(f"<p>{report['evidence_files'] - len(evidence)} more files not listed.</p>")

    out.append(f'<h2 id="fleets">Fleets ({len(report["fleets"])})</h2>')
    for fleet in report["fleets"]:
        out.append(
            f'<details class="fleet" id="fleet-{e(fleet["fleet"])}"><summary><b>'
            f'{e(fleet["fleet"])}</b>: epoch <span class="fleet-epoch">{fleet["epoch"]}</span>'
            f" (entry {fleet['index']}), {len(fleet['keys'])} keys</summary>"
            "<table><tr><th>Epoch</th><th>Entry</th><th>Issued</th><th>Seen</th><th>Signers"
            "</th><th>Added</th><th>Removed</th><th>Kept</th></tr>"
        )
        for h in fleet["history"]:
            signers = "<br>".join(e(s) for s in h["signers"])
            added = "<br>".join(
                f'+ {e(k["id"])} <span class="mono">{e(k["fingerprint"])}</span>'
                for k in h["added"]
            )
            removed = "<br>".join(
                f'- {e(k["id"])} <span class="mono">{e(k["fingerprint"])}</span>'
                for k in h["removed"]
            )
            out.append(
                f"<tr><td>{h['epoch']}</td><td>{h['index']}</td><td>{e(_date(h['issued_at']))}"
                f'</td><td>{e(_date(h["seen"]))}</td><td class="mono">{signers}</td>'
                f"<td>{added}</td><td>{removed}</td><td>{h['kept']}</td></tr>"
            )
        if not fleet["history"]:
            out.append('<tr><td colspan="8" class="muted">no history recorded (the state '
                       "predates the history file)</td></tr>")  # fmt: skip
        out.append("</table></details>")

    if report["rotations"]:
        out.append('<h2 id="rotations">Trust-root rotations</h2><table><tr><th>Entry</th>'
                   "<th>Version</th><th>Seen</th></tr>")  # fmt: skip
        for r in report["rotations"]:
            out.append(
                f"<tr><td>{r['index']}</td><td>{r['version']}</td><td>{e(_date(r['seen']))}"
                "</td></tr>"
            )
        out.append("</table>")

    out.append(
        f'<h2 id="passes">Passes (last {min(len(passes), _HTML_PASSES)} of {len(passes)} '
        "recorded)</h2><table><tr><th>Time</th><th>Status</th><th>Log size</th><th>Verified"
        "</th><th>Checked</th><th>Newest cosignature</th><th>Missing / stale witnesses</th></tr>"
    )
    for p in reversed(passes[-_HTML_PASSES:]):
        age = p.get("checkpoint_age")
        trouble = ", ".join([*p.get("missing_witnesses", []), *p.get("stale_witnesses", [])])
        out.append(
            f'<tr><td>{e(_date(p["time"]))}</td><td class="{_status_class(p["status"])}">'
            f"{e(p['status'])}</td><td>{p.get('log_size') or ''}</td><td>"
            f"{p.get('verified_size') or ''}</td><td>{p.get('checked', '')}</td><td>"
            f"{'' if age is None else _age(age)}</td><td>{e(trouble)}</td></tr>"
        )
    out.append("</table>")
    out.append(
        '<p class="muted">The same data: <a href="report.json">report.json</a>, '
        '<a href="epochs.csv">epochs.csv</a>, <a href="passes.csv">passes.csv</a>, '
        '<a href="evidence.csv">evidence.csv</a>.</p></body></html>'
    )
    return "\n".join(out) + "\n"
