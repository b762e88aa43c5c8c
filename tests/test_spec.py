"""SPEC.md §9 and the code list the same closed set of reason codes."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from keybundle.errors import Reason
from transparency_log.errors import LogReason

REPO = Path(__file__).resolve().parent.parent
_ROW = re.compile(r"^\| `([A-Z][A-Z0-9_]*)` \| (.+) \|$", re.MULTILINE)


def spec_reason_table() -> dict[str, str]:
    """Code -> text of the rows of SPEC §9's table (between its heading and the next section)."""
    spec = (REPO / "SPEC.md").read_text(encoding="utf-8")
    start = spec.index("\n## 9. Reason codes\n")
    end = spec.index("\n## ", start + 1)
    rows = _ROW.findall(spec[start:end])
    codes = [code for code, _ in rows]
    assert len(codes) == len(set(codes)), "a code has two rows in SPEC §9"
    return dict(rows)


def enum_docstrings(path: Path, class_name: str) -> dict[str, str]:
    """Member name -> the docstring under it, read from the source (SPEC §9 one-liners)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    (cls,) = (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == class_name)
    docs: dict[str, str] = {}
    for assign, doc in zip(cls.body, cls.body[1:], strict=False):
        if (
            isinstance(assign, ast.Assign)
            and isinstance(assign.targets[0], ast.Name)
            and isinstance(doc, ast.Expr)
            and isinstance(doc.value, ast.Constant)
            and isinstance(doc.value.value, str)
        ):
            docs[assign.targets[0].id] = doc.value.value
    return docs


def test_spec_table_lists_exactly_the_codes_of_both_enums() -> None:
    table = set(spec_reason_table())
    code = {r.value for r in LogReason} | {r.value for r in Reason}
    assert table - code == set(), "SPEC §9 lists codes the code does not have"
    assert code - table == set(), "the code has reason codes SPEC §9 does not list"


def test_the_two_enums_do_not_overlap() -> None:
    assert {r.value for r in LogReason} & {r.value for r in Reason} == set()


def test_each_code_is_its_own_name() -> None:
    for reason in [*LogReason, *Reason]:
        assert reason.name == reason.value


def test_each_code_has_the_spec_text_as_its_docstring() -> None:
    table = spec_reason_table()
    docs = {
        **enum_docstrings(REPO / "transparency_log" / "errors.py", "LogReason"),
        **enum_docstrings(REPO / "keybundle" / "errors.py", "Reason"),
    }
    assert set(docs) == {r.name for r in [*LogReason, *Reason]}, "a code lacks its docstring"
    different = {code: (docs[code], text) for code, text in table.items() if docs[code] != text}
    assert different == {}, "docstring and SPEC §9 row differ (docstring, SPEC)"


def _spec_hex_blocks() -> set[str]:
    """Every fenced block of SPEC.md that is only hex digits, joined into one string."""
    spec = (REPO / "SPEC.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```\n((?:[0-9a-f]+\n)+)```$", spec, re.MULTILINE)
    return {"".join(block.split()) for block in blocks}


def test_spec_cose_examples_are_the_tested_bytes() -> None:
    """SPEC §4.1-§4.2 print the known-answer COSE bytes that tests/keybundle/test_cose.py
    pins; a hand-edited example that drifts from the code is caught here."""
    from tests.keybundle.test_cose import COUNTERSIGNED_HEX, SIGNED_HEX

    blocks = _spec_hex_blocks()
    for name, value in (("SIGNED_HEX", SIGNED_HEX), ("COUNTERSIGNED_HEX", COUNTERSIGNED_HEX)):
        assert value in blocks, f"SPEC.md does not print test_cose.{name} as a hex block"


def test_each_limit_of_spec_11_is_named_once() -> None:
    """A named limit has one value: two rows with one name leave the reader to guess which."""
    spec = (REPO / "SPEC.md").read_text(encoding="utf-8")
    section = spec[spec.index("\n## 11. Limits\n") : spec.index("<!-- limits-table -->")]
    names = re.findall(r"^\| `([A-Z][A-Z0-9_]*)` \|", section, re.MULTILINE)
    assert len(names) > 50
    assert sorted({n for n in names if names.count(n) > 1}) == []


# --- every section citation resolves (issue 15 item 7) ----------------------------------------

_DOCS = {"SPEC": "SPEC.md", "OPS": "docs/operations.md", "CLI": "docs/cli.md"}
_HEADING = re.compile(r"^#{2,4} (\d+(?:\.\d+)*)\.? ", re.MULTILINE)
# A section citation, with the document named before it when there is one; sections of other
# documents (RFC 9162 §2.1, DESIGN §5a, C2SP tlog-tiles §x) are matched only to be skipped.
_CITE = re.compile(
    r"(?P<pre>(?:SPEC\.md|SPEC|docs/operations\.md|docs/cli\.md|OPS|CLI|RFC \d+|"
    r"DESIGN(?:\.md)?|STYLE(?:\.md)?|C2SP [a-z0-9-]+|SEC 1|TUF(?: specification)?)\s)?"
    r"§(?P<num>\d+(?:\.\d+)*)(?![\d\w])"
)
_EXTERNAL = re.compile(r"\b(?:RFC|SEC 1|TUF|DESIGN|STYLE|C2SP)\b")
_PREFIX = {
    "SPEC": "SPEC",
    "SPEC.md": "SPEC",
    "OPS": "OPS",
    "docs/operations.md": "OPS",
    "CLI": "CLI",
    "docs/cli.md": "CLI",
}


def _headings() -> dict[str, set[str]]:
    """Document (SPEC, OPS, CLI) -> the section numbers of its headings."""
    return {
        doc: set(_HEADING.findall((REPO / path).read_text(encoding="utf-8")))
        for doc, path in _DOCS.items()
    }


def _line_and_previous(text: str, at: int) -> str:
    """The text from the start of the line before the one holding ``at`` up to ``at``."""
    start = text.rfind("\n", 0, text.rfind("\n", 0, at)) + 1
    return text[start:at]


def _citations(text: str, default: str) -> list[tuple[int, str, str, bool]]:
    """(line, document, number) of each citation of ours in ``text``: a bare § names the
    document cited last on its line (none after another document's, e.g. RFC 9162 §2.1, §2.2),
    ``default`` at the start of a line; `RFC 8949` at a line's end names the next line's §."""
    found: list[tuple[int, str, str, bool]] = []
    current: str | None = default
    line = 0
    for m in _CITE.finditer(text):
        here = text.count("\n", 0, m.start("num")) + 1
        if here != line:
            current = default
        line = here
        pre = m.group("pre")
        if pre is not None:
            current = _PREFIX.get(pre.strip())  # None: another document's, as bare ones after it
        if current is not None:
            # A bare § with another document named on its line or the one before may be that
            # document's ("RFC 8032 ... §5.1.2,\n... §5.1.3"): the last member says so.
            near = pre is None and bool(_EXTERNAL.search(_line_and_previous(text, m.start())))
            found.append((here, current, m.group("num"), near))
    return found


def _tracked_text_files() -> list[Path]:
    """The repository's files that may cite SPEC: source, docs, vectors, deployment."""
    roots = [
        "keybundle",
        "transparency_log",
        "cli",
        "tests",
        "testvectors",
        "bench",
        "scripts",
        "deploy",
        "docs",
        ".ci",
    ]
    files = [REPO / "README.md", REPO / "SPEC.md"]
    for root in roots:
        if (REPO / root).is_dir():
            files += [
                p
                for p in (REPO / root).rglob("*")
                if p.is_file()
                and p.suffix in {".py", ".md", ".json", ".toml", ".conf", ".service", ""}
            ]
    return files


def test_the_split_documents_have_their_parts() -> None:
    """SPEC.md is the interop contract: the writer's internals and the CLI are elsewhere."""
    headings = _headings()
    assert {"2.9", "6.5.1", "6.5.2", "7.3", "8.4", "9", "11", "12"} <= headings["SPEC"]
    assert {"6.2", "6.6", "8.1"} <= headings["OPS"]
    assert "10.6" in headings["CLI"]
    assert headings["SPEC"] & {"6.2", "6.6", "10", "10.6"} == set()


def test_every_section_citation_resolves() -> None:
    """Each `SPEC §N` (bare `§N` in code, `OPS §N`, `CLI §N`, `docs/….md §N`) in the
    repository names a heading of that document, so a moved or renumbered section cannot
    leave a dangling citation in code, tests or vectors."""
    headings = _headings()
    own = {REPO / path: doc for doc, path in _DOCS.items()}
    dangling = []
    for path in _tracked_text_files():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for lineno, doc, number, near in _citations(text, own.get(path, "SPEC")):
            if number not in headings[doc] and not near:
                dangling.append(f"{path.relative_to(REPO)}:{lineno}: {doc} §{number}")
    assert dangling == []


def test_citation_reader_follows_the_cited_document() -> None:
    """The reader of the test above: a bare § after `OPS §6.2` is OPS's, RFC sections skipped."""
    text = "SPEC §7.3, OPS §6.2, §6.6 and RFC 9162 §2.1, §2.2\n§9 of RFC 8949\n§4.2.1"
    assert _citations(text, "SPEC") == [
        (1, "SPEC", "7.3", False),
        (1, "OPS", "6.2", False),
        (1, "OPS", "6.6", False),
        (2, "SPEC", "9", True),
    ]
