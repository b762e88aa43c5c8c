"""docs/operations-logs.md (issue 14, OPS §6.6): the records each service wrote for one
append, from a real run (scripts/operations_logs.py). Every record there has the shape SPEC
OPS §6.6 gives its event, and every field it carries is named in OPS §6.6, so the document, the
specification and the code (whose tests check the same fields) cannot drift apart unseen."""

from __future__ import annotations

import json
import re

from tests.conftest import REPO

DOC = REPO / "docs" / "operations-logs.md"
COMMON = {"time", "level", "logger", "message", "event"}
"""Every service record (OPS §6.6: time, level, logger, message, and the record's fields)."""

SHAPES: dict[str, dict[str, set[str]]] = {
    "log": {
        "append": {"index", "ms"},
        "cosigning_round": {
            "kind",
            "size",
            "asked",
            "cosigned",
            "failed",
            "quorum_met",
            "outcome",
            "ms",
        },
    },
    "witness": {"cosignature": {"line", "ms"}},
    "publisher": {
        "publish": {
            "size",
            "fleets",
            "new_entries",
            "rebuilt",
            "quorum_short",
            "older_roots",
            "ms",
            "build_ms",
            "write_ms",
        },
    },
}
LOGGERS = {
    "append": "keybundle.service",
    "cosignature": "keybundle.service",
    "cosigning_round": "transparency_log.server",
    "publish": "keybundle.publisher_service",
}
MONITOR_EVENTS = {"checkpoint", "health", "epoch", "progress", "pass"}
"""What the monitor's --json --verbose pass over one new entry says (OPS §8.3)."""


def _records() -> dict[str, list[dict[str, object]]]:
    sections: dict[str, list[dict[str, object]]] = {}
    text = DOC.read_text(encoding="utf-8")
    for title, body in re.findall(r"(?ms)^## (.+?)$(.*?)(?=^## |\Z)", text):
        name = title.split(" (")[0].split()[-1]  # "The package publisher (...)" -> "publisher"
        (fence,) = re.findall(r"(?ms)^```\n(.*?)^```", body)
        sections[name] = [json.loads(line) for line in fence.splitlines()]
    return sections


def test_the_document_shows_all_four_services() -> None:
    assert set(_records()) == {"log", "witness", "publisher", "monitor"}


def test_each_service_record_has_the_shape_spec_6_6_gives() -> None:
    records = _records()
    for service, shapes in SHAPES.items():
        seen = {str(r["event"]) for r in records[service]}
        assert seen == set(shapes), (service, seen)
        for record in records[service]:
            event = str(record["event"])
            assert set(record) == COMMON | shapes[event], (service, event, sorted(record))
            assert record["logger"] == LOGGERS[event]
            assert record["level"] == "info"
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", str(record["time"]))


def test_the_append_is_cosigned_published_and_audited_at_one_size() -> None:
    records = _records()
    (append,) = records["log"][-1:]
    (round_,) = [r for r in records["log"] if r["event"] == "cosigning_round"]
    (publish,) = records["publisher"]
    size = int(str(append["index"])) + 1
    assert (round_["size"], round_["quorum_met"], round_["outcome"]) == (size, True, "complete")
    assert (publish["size"], publish["new_entries"]) == (size, 1)
    monitor = records["monitor"]
    assert {str(r["event"]) for r in monitor} == MONITOR_EVENTS
    (audited,) = [r for r in monitor if r["event"] == "pass"]
    assert (audited["size"], audited["status"]) == (size, "clean")


def test_every_field_is_named_in_spec_6_6() -> None:
    ops = (REPO / "docs" / "operations.md").read_text(encoding="utf-8")
    start = ops.index("### 6.6 Operating the services")
    section = ops[start : ops.index("\n## ", start)]
    for shapes in SHAPES.values():
        for event, fields in shapes.items():
            assert f"`{event}`" in section, event
            for field in fields:
                assert f"`{field}`" in section, (event, field)
