"""Mutation-test our verifier against the conformance vectors alone (issue 17, SPEC §12).

How much of SPEC.md do the vectors pin down? A *mutant* is our library with one deliberate
deviation (a boundary moved by one, a comparison inverted, a check skipped, ``and`` for
``or``, ...). It is *killed* when at least one vector fails under it, and *survives* when all
vectors still pass: then an implementation that makes the same mistake would pass the
conformance suite too. The test is the conformance run in process (``keybundle conformance
run`` without ``--verifier``: :func:`keybundle.conformance.run_in_process` over every vector),
nothing else: the unit tests do not count here.

Mutations (a small AST mutator of our own: mutmut and cosmic-ray run a test *command*, one
interpreter per mutant, which here costs more than the whole conformance run):

- ``cmp``: ``<`` <-> ``<=``, ``>`` <-> ``>=``, ``==`` <-> ``!=``, ``in`` <-> ``not in``,
  ``is`` <-> ``is not``;
- ``int+1`` / ``int-1``: an integer constant moved by one (a limit, a length, an offset);
- ``boolop``: ``and`` <-> ``or``;
- ``not``: ``not x`` -> ``x``;
- ``skip``: an ``if`` whose body raises gets the test ``False`` (a skipped check);
- ``return``: ``return True`` <-> ``return False``;
- ``arith``: ``+`` <-> ``-``.

Only code that the vectors execute is mutated (statement coverage of one full run, traced
first): a mutant in code no vector reaches (signing, writing, servers) would survive
trivially and is reported separately as *unreached*, not counted in the score. Each mutant
runs in its own interpreter (an import hook compiles the mutated module), under ``nice``,
with a timeout (a hang counts as killed: the harness times out too). Results go to a JSON
Lines file as they come, so a run cut short by ``--minutes`` still reports what it measured.

    .venv/bin/python bench/mutation_vectors.py --modules transparency_log.note \\
        transparency_log.checkpoint transparency_log.policy keybundle.cose --minutes 20
    .venv/bin/python bench/mutation_vectors.py --rerun-survivors mutants.jsonl

``keybundle.dcbor`` decides valid input on a fast path (cbor2 plus a proof walk) and falls
back to its strict decoder only when that path gives up, so a strict-decoder mutant that
wrongly rejects valid input survives every vector there: ``--strict-cbor`` turns the fast path
off (as under a cbor2 release it was not checked against) to measure the strict decoder.

Surviving mutants shown to be equivalent (no input can tell them apart from the original)
are listed in testvectors/EQUIVALENT_MUTANTS.md with the reason; every other survivor is a
missing vector.
"""

from __future__ import annotations

import argparse
import ast
import copy
import importlib.machinery
import importlib.util
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from types import CodeType, FrameType
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parent.parent
VECTORS: Final = Path(os.environ.get("KEYBUNDLE_MUTATION_VECTORS", ROOT / "testvectors"))
"""The vectors the mutants answer (the environment variable lets a run use a frozen copy)."""
DEFAULT_MODULES: Final = (
    "transparency_log.note",
    "transparency_log.checkpoint",
    "transparency_log.policy",
    "keybundle.cose",
)
_TIMEOUT_SECONDS: Final = 60.0
_STRICT_CBOR: Final = "KEYBUNDLE_MUTATION_STRICT_CBOR"
"""Set to 1 (``--strict-cbor``) for runs, children included, without dcbor's fast path."""
_SWAP: Final[dict[type, type]] = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}


@dataclass(frozen=True)
class Site:
    """One mutation of one module, identified by its order in a deterministic AST walk."""

    module: str
    index: int
    line: int
    statement_line: int
    operator: str
    text: str
    """The original source segment and what it becomes, for the report."""


class _Mutator(ast.NodeTransformer):
    """Walks a module; enumerates mutation sites, or applies the one numbered ``target``."""

    def __init__(self, source: str, module: str, target: int | None) -> None:
        self.source = source
        self.module = module
        self.target = target
        self.sites: list[Site] = []
        self.statement_line = 0
        self.in_annotation = False

    def _site(self, node: ast.AST, operator: str, becomes: str) -> bool:
        """Record a site; return whether it is the one to apply."""
        segment = ast.get_source_segment(self.source, node) or ""
        segment = " ".join(segment.split())[:80]
        self.sites.append(
            Site(
                self.module,
                len(self.sites),
                getattr(node, "lineno", 0),
                self.statement_line,
                operator,
                f"{segment} -> {becomes}",
            )
        )
        return self.target == len(self.sites) - 1

    def generic_visit(self, node: ast.AST) -> ast.AST:
        if isinstance(node, ast.stmt):
            self.statement_line = node.lineno
        return super().generic_visit(node)

    # Docstrings and annotations are not behaviour.
    def visit_Expr(self, node: ast.Expr) -> ast.AST:
        if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            return node
        return self.generic_visit(node)

    def visit_arg(self, node: ast.arg) -> ast.AST:
        return node

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST:
        self.statement_line = node.lineno
        if node.value is not None:
            node.value = self.visit(node.value)
        return node

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        for i, op in enumerate(node.ops):
            swapped = _SWAP.get(type(op))
            if swapped is not None and self._site(node, "cmp", swapped.__name__):
                node.ops[i] = swapped()
        return node

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        value = node.value
        if type(value) is int:
            if self._site(node, "int+1", str(value + 1)):
                return ast.copy_location(ast.Constant(value + 1), node)
            if value > 0 and self._site(node, "int-1", str(value - 1)):
                return ast.copy_location(ast.Constant(value - 1), node)
        return node

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.AST:
        self.generic_visit(node)
        other = "or" if isinstance(node.op, ast.And) else "and"
        if self._site(node, "boolop", other):
            node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        return node

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.op, ast.Not) and self._site(node, "not", "(without not)"):
            return node.operand
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.op, ast.Add | ast.Sub):
            other = "-" if isinstance(node.op, ast.Add) else "+"
            if self._site(node, "arith", other):
                node.op = ast.Sub() if isinstance(node.op, ast.Add) else ast.Add()
        return node

    def visit_If(self, node: ast.If) -> ast.AST:
        self.statement_line = node.lineno
        raises = any(isinstance(s, ast.Raise) for s in node.body)
        if raises and self._site(node.test, "skip", "False (check skipped)"):
            node.test = ast.copy_location(ast.Constant(False), node.test)
        else:
            node.test = self.visit(node.test)
        line = node.lineno
        node.body = [self.visit(s) for s in node.body]
        self.statement_line = line
        node.orelse = [self.visit(s) for s in node.orelse]
        return node

    def visit_Return(self, node: ast.Return) -> ast.AST:
        self.statement_line = node.lineno
        value = node.value
        if isinstance(value, ast.Constant) and type(value.value) is bool:
            if self._site(node, "return", str(not value.value)):
                node.value = ast.copy_location(ast.Constant(not value.value), value)
            return node
        return self.generic_visit(node)


def _source(module: str) -> tuple[str, str]:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise SystemExit(f"no module {module}")
    return spec.origin, Path(spec.origin).read_text(encoding="utf-8")


def sites(module: str) -> list[Site]:
    """Every mutation site of ``module``, in walk order."""
    _, source = _source(module)
    mutator = _Mutator(source, module, None)
    mutator.visit(ast.parse(source))
    return mutator.sites


def _mutated_tree(module: str, index: int) -> ast.Module:
    _, source = _source(module)
    mutator = _Mutator(source, module, index)
    tree = mutator.visit(copy.deepcopy(ast.parse(source)))
    if not isinstance(tree, ast.Module):
        raise TypeError("a mutated module is still a module")
    return ast.fix_missing_locations(tree)


def mutated_source(module: str, index: int) -> str:
    """The source of mutant ``index`` of ``module`` (as ``ast.unparse`` writes it)."""
    return ast.unparse(_mutated_tree(module, index))


def _mutated_code(module: str, index: int) -> CodeType:
    return compile(_mutated_tree(module, index), _source(module)[0], "exec")


class _MutantLoader(importlib.machinery.SourceFileLoader):
    code: CodeType | None = None

    def get_code(self, fullname: str) -> CodeType:
        if self.code is None:
            raise ImportError(fullname)
        return self.code


class _MutantFinder:
    """Serves the mutated module in place of the real one, before anything imports it."""

    def __init__(self, module: str, code: CodeType) -> None:
        self.module = module
        self.code = code

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: object = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != self.module:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.origin is None:
            return None
        loader = _MutantLoader(fullname, spec.origin)
        loader.code = self.code
        spec.loader = loader
        return spec


_FIRST_FAMILIES: Final = {
    "transparency_log.note": ("note", "checkpoint", "policy"),
    "transparency_log.checkpoint": ("checkpoint", "policy", "tlog-proof"),
    "transparency_log.policy": ("policy", "trust-root"),
    "keybundle.cose": ("cose", "admission"),
    "keybundle.client": ("client",),
    "keybundle.package": ("client",),
    "keybundle.trustchain": ("client",),
    "keybundle.state": ("client",),
    "keybundle.payload": ("payload", "cose"),
    "keybundle.countersignature": ("cose", "admission"),
    "transparency_log.tlog_proof": ("tlog-proof", "client"),
    "transparency_log.proof": ("merkle", "tlog-proof", "tiles"),
    "keybundle.signed_trust_root": ("trust-root", "client"),
    "keybundle.trustroot": ("trust-root", "admission", "client"),
    "keybundle.evidence": ("evidence",),
    "keybundle.history": ("evidence", "client"),
    "transparency_log.merkle": ("merkle", "tlog-proof", "evidence"),
    "transparency_log.tile": ("tiles", "evidence"),
    "keybundle.dcbor": ("cbor", "payload", "cose"),
    "transparency_log.tlog_client": ("evidence", "tiles"),
    "keybundle.fleetkeys": ("payload", "client", "admission"),
    "keybundle.roles": ("admission", "client", "cose"),
    "keybundle.admission": ("admission", "cose", "client"),
    "keybundle.signers": ("admission", "client", "cose"),
}
"""Families most likely to kill a module's mutants, run first (a killed mutant stops early)."""


def _run_vectors(module: str | None = None) -> str | None:
    """The first failing vector (``family/name: why``), or None when all pass."""
    from keybundle.conformance import load_vectors, run_in_process

    if os.environ.get(_STRICT_CBOR) == "1":
        # keybundle.dcbor's fast path off, as under a cbor2 release it was not checked
        # against: the strict decoder then decides every input, valid ones included.
        from keybundle import dcbor

        vars(dcbor)["_FAST_PATH"] = False
    first = _FIRST_FAMILIES.get(module or "", ())
    vectors = sorted(
        load_vectors(VECTORS),
        key=lambda v: first.index(v.family) if v.family in first else len(first),
    )
    for outcome in run_in_process(vectors):
        if not outcome.passed:
            return f"{outcome.vector.family}/{outcome.vector.name}: {outcome.detail}"
    return None


def _child_one(module: str, index: int) -> int:
    """Run the vectors against one mutant: exit 0 survived, 1 killed, 4 not compilable."""
    try:
        code = _mutated_code(module, index)
    except (SyntaxError, ValueError, TypeError) as e:
        print(json.dumps({"status": "invalid", "detail": str(e)}))
        return 4
    sys.meta_path.insert(0, _MutantFinder(module, code))
    try:
        failed = _run_vectors(module)
    except BaseException as e:  # any crash of the mutant kills it
        print(json.dumps({"status": "killed", "detail": f"{type(e).__name__}: {e}"[:300]}))
        return 1
    if failed is None:
        print(json.dumps({"status": "survived", "detail": ""}))
        return 0
    print(json.dumps({"status": "killed", "detail": failed[:300]}))
    return 1


def _child_coverage(modules: Sequence[str]) -> int:
    """Print the statement lines of ``modules`` that one full vector run executes."""
    files = {_source(m)[0]: m for m in modules}
    lines: dict[str, set[int]] = {m: set() for m in modules}

    def tracer(frame: FrameType, event: str, arg: Any) -> Any:
        module = files.get(frame.f_code.co_filename)
        if module is None:
            return None
        if event == "line":
            lines[module].add(frame.f_lineno)
        return tracer

    sys.settrace(tracer)
    failed = _run_vectors()
    sys.settrace(None)
    if failed is not None:
        print(json.dumps({"error": f"the unmutated library fails {failed}"}))
        return 1
    sys.stdout.write(json.dumps({m: sorted(v) for m, v in lines.items()}) + "\n")
    return 0


def _spawn(args: Sequence[str], timeout: float) -> dict[str, Any]:
    command = ["nice", "-n", "19", sys.executable, str(Path(__file__).resolve()), *args]
    try:
        done = subprocess.run(command, capture_output=True, timeout=timeout, check=False, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"status": "killed", "detail": f"timeout after {timeout:g} s"}
    try:
        result: dict[str, Any] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
        return {"status": "killed", "detail": f"exit {done.returncode}: {tail[0][:200]}"}
    return result


def _reached(modules: Sequence[str]) -> dict[str, set[int]]:
    result = _spawn(["--coverage", *modules], 600.0)
    if "error" in result:
        raise SystemExit(result["error"])
    return {m: set(result[m]) for m in modules}


def _plan(modules: Sequence[str]) -> Iterator[tuple[Site, bool]]:
    covered = _reached(modules)
    for module in modules:
        for site in sites(module):
            yield site, site.statement_line in covered[module]


def _report(results: Sequence[dict[str, Any]], unreached: int) -> str:
    counts: dict[str, int] = {}
    for r in results:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    killed, survived = counts.get("killed", 0), counts.get("survived", 0)
    equivalent = counts.get("equivalent", 0)
    scored = killed + survived
    rate = f"{100 * killed / scored:.1f}%" if scored else "n/a"
    lines = [
        f"mutants run: {len(results)} (killed {killed}, survived {survived}, "
        f"listed equivalent {equivalent}, not compilable {counts.get('invalid', 0)}); "
        f"unreached by any vector, not run: {unreached}",
        f"kill rate over non-equivalent mutants: {rate}",
    ]
    lines.extend(
        f"SURVIVED {r['module']}:{r['line']} [{r['operator']}] {r['text']}"
        for r in results
        if r["status"] == "survived"
    )
    return "\n".join(lines)


def site_keys(site: Site) -> tuple[str, str]:
    """The two keys that can list ``site``: ``module:line:operator`` (every mutant of that
    operator on that line) and ``module:line:operator:becomes`` (just this one)."""
    key = f"{site.module}:{site.line}:{site.operator}"
    return key, f"{key}:{site.text.rsplit(' -> ', 1)[-1]}"


def _equivalent_keys(path: Path) -> set[str]:
    """The keys listed in EQUIVALENT_MUTANTS.md (backticked, first column): see site_keys."""
    if not path.exists():
        return set()
    keys: set[str] = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("| `"):
            keys.add(line.split("`")[1])
    return keys


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: see the module docstring."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--modules", nargs="+", default=list(DEFAULT_MODULES))
    p.add_argument("--minutes", type=float, default=20.0, help="wall-clock cap of the run")
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--out", type=Path, default=Path("mutants.jsonl"))
    p.add_argument("--rerun-survivors", type=Path, help="rerun the survivors of a results file")
    p.add_argument(
        "--skip-done", type=Path, action="append", default=[], help="skip mutants in this file"
    )
    p.add_argument(
        "--strict-cbor",
        action="store_true",
        help="turn keybundle.dcbor's fast path off (its strict decoder decides every input)",
    )
    p.add_argument("--one", nargs=2, metavar=("MODULE", "INDEX"), help=argparse.SUPPRESS)
    p.add_argument("--coverage", nargs="+", metavar="MODULE", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.strict_cbor:
        os.environ[_STRICT_CBOR] = "1"  # inherited by every child
    if args.one:
        return _child_one(args.one[0], int(args.one[1]))
    if args.coverage:
        return _child_coverage(args.coverage)

    equivalent = _equivalent_keys(VECTORS / "EQUIVALENT_MUTANTS.md")
    unreached = 0
    todo: list[Site] = []
    if args.rerun_survivors:
        for line in args.rerun_survivors.read_text().splitlines():
            r = json.loads(line)
            if r["status"] == "survived":
                todo.append(Site(**{k: r[k] for k in Site.__dataclass_fields__}))
    else:
        for site, reached in _plan(args.modules):
            if reached:
                todo.append(site)
            else:
                unreached += 1
    done_before: set[tuple[str, int]] = set()
    for path in args.skip_done:
        for line in path.read_text().splitlines():
            r = json.loads(line)
            done_before.add((r["module"], r["index"]))
    todo = [t for t in todo if (t.module, t.index) not in done_before]
    deadline = time.monotonic() + 60 * args.minutes
    results: list[dict[str, Any]] = []
    with args.out.open("w") as out, ThreadPoolExecutor(max(1, args.jobs)) as pool:
        futures = {}
        for site in todo:
            if equivalent.intersection(site_keys(site)):
                row = {**asdict(site), "status": "equivalent", "detail": "listed"}
                results.append(row)
                out.write(json.dumps(row) + "\n")
                continue
            futures[pool.submit(_one_before, deadline, site)] = site
        for future in as_completed(futures):
            done = future.result()
            if done is None:
                continue
            results.append(done)
            out.write(json.dumps(done) + "\n")
            out.flush()
    skipped = len(todo) - len(results)
    print(_report(results, unreached))
    if skipped:
        print(f"not run (wall-clock cap reached): {skipped}")
    return 0


def _one_before(deadline: float, site: Site) -> dict[str, Any] | None:
    if time.monotonic() > deadline:
        return None
    result = _spawn(["--one", site.module, str(site.index)], _TIMEOUT_SECONDS)
    return {**asdict(site), **result}


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    raise SystemExit(main())
