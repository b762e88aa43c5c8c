"""The vector collector: every vector's expected outcome is our library's, checked against intent.

Each family module (``families_*.py``) states for each case what it *intends* (accept, or
reject with a reason code, and for a client rejection the SPEC §7.3 step), builds the input,
and hands both to :meth:`VectorSet.add`. The collector asks our library for the answer
(``keybundle.conformance.evaluate``, the reference adapter) and refuses the vector unless
the answer is the intended one, so a bug in the library or in a case's construction stops the
generator instead of being published as the expected outcome. Accepted answers are kept
whole (resulting keys, state, roots): those are what other implementations must reproduce.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from keybundle import dcbor
from keybundle.conformance import FAMILIES, evaluate

__all__ = [
    "ACCEPT",
    "NO_TWIN_KINDS",
    "VectorMismatchError",
    "VectorSet",
    "Want",
    "b64",
    "cbor_decode",
    "cbor_encode",
    "cbor_tagged",
    "reject",
    "render",
]

_NAME: Final = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


class VectorMismatchError(Exception):
    """Our library's answer is not what the case intends: the generator publishes nothing."""


@dataclass(frozen=True)
class Want:
    """The intended outcome of one request (or one step of a sequence)."""

    reason: str | None = None
    """None to accept, else the SPEC §9 reason code of the rejection."""
    step: int | None = None
    """For a client rejection: the SPEC §7.3 step that fails (documented in the vector)."""


ACCEPT: Final = Want()

NO_TWIN_KINDS: Final = ("precedence", "sequence", "no-neighbour")
"""Why a rejection may lack a repaired twin (``VectorSet.add(..., no_twin=...)``).

``precedence``: two faults by design, to pin which reason code wins (or one past a cap that
no valid input reaches, so the cap wins over a later rule). ``sequence``: a client run whose
steps hold several rejections by design. ``no-neighbour``: no valid input differs from this
one in the one way its name says (an empty input, another kind of object, a rule that every
breaking input also breaks another way, a limit no valid input reaches).
"""


def reject(reason: str, step: int | None = None) -> Want:
    """A rejection with ``reason`` (at SPEC §7.3 ``step`` for a client decision)."""
    return Want(str(reason), step)


def b64(data: bytes) -> str:
    """Standard padded base64 (SPEC §1), as every binary input of a vector is written."""
    return base64.b64encode(data).decode("ascii")


def cbor_encode(value: Any) -> bytes:
    """Deterministic CBOR of a value the cases build loosely (maps of ``Any``)."""
    return dcbor.encode(value)


def cbor_decode(data: bytes, tags: frozenset[int] = frozenset()) -> Any:
    """The value of deterministic CBOR ``data``, typed loosely for the cases to edit."""
    return dcbor.decode(data, tags=tags)


def cbor_tagged(tag: int, value: Any) -> bytes:
    """Deterministic CBOR of ``value`` under CBOR tag ``tag``."""
    return dcbor.encode(dcbor.Tag(tag, value))


def render(vector: Mapping[str, Any]) -> bytes:
    """A vector file's bytes: UTF-8 JSON, sorted keys, two-space indent, one final newline."""
    return (json.dumps(vector, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()


def _expected(answer: Mapping[str, Any], want: Want, where: str) -> dict[str, Any]:
    got = (
        f"reject {answer.get('reason')} ({answer.get('message')})"
        if answer.get("result") == "reject"
        else str(answer.get("result"))
    )
    if want.reason is None:
        if answer.get("result") != "accept":
            raise VectorMismatchError(f"{where}: intended accept, the library says {got}")
        return dict(answer)
    if answer.get("result") != "reject" or answer.get("reason") != want.reason:
        raise VectorMismatchError(f"{where}: intended reject {want.reason}, the library says {got}")
    expect: dict[str, Any] = {"result": "reject", "reason": want.reason}
    if want.step is not None:
        expect["step"] = want.step
    return expect


def _first_reason(answer: Mapping[str, Any]) -> str | None:
    """The reason of an answer's (or a sequence's first) rejection; None if all accepted."""
    results = answer.get("results")
    for a in results if type(results) is list else [answer]:
        if a.get("result") == "reject":
            return str(a.get("reason"))
    return None


class VectorSet:
    """The vectors generated so far, by (family, name).

    One fault per negative vector (issue 17): a rejection may name its *repaired twin*, the
    same input with the one fault its name says removed, which our library must accept. The
    generator refuses the vector otherwise, so a vector that carries a second fault (which
    would hide the first from every implementation that checks the second) cannot be
    published. :attr:`twinned` names the negative vectors so checked.

    A rejection that has no such twin says why instead (``no_twin="<kind>: <why>"``, the
    kind one of :data:`NO_TWIN_KINDS`), and a rejection with neither is refused: every
    negative vector is either proven to carry one fault or names the reason it cannot be.
    :attr:`untwinned` maps those vectors to their reasons.
    """

    def __init__(self) -> None:
        self.vectors: dict[tuple[str, str], dict[str, Any]] = {}
        self.twinned: set[tuple[str, str]] = set()
        self.untwinned: dict[tuple[str, str], str] = {}
        self.split: set[tuple[str, str]] = set()
        """The precedence vectors whose two faults were each checked alone."""

    @staticmethod
    def _check_alone(
        family: str, where: str, code: str | None, alone: Sequence[Mapping[str, Any]]
    ) -> None:
        deciding, other = (_first_reason(evaluate(family, a)) for a in alone)
        if deciding != code:
            raise VectorMismatchError(
                f"{where}: with only the deciding fault the library says {deciding}, not {code}"
            )
        if other is None or other == code:
            raise VectorMismatchError(
                f"{where}: with only the other fault the library says {other}: the vector "
                "pins no precedence"
            )

    def add(  # noqa: PLR0917 (the parts of a vector, in the order a case states them)
        self,
        family: str,
        name: str,
        description: str,
        spec: Sequence[str],
        inp: Mapping[str, Any],
        want: Want | Sequence[Want],
        *,
        source: str | None = None,
        repaired: Mapping[str, Any] | None = None,
        no_twin: str | None = None,
        alone: Sequence[Mapping[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Add one vector; return its expected outcome (``expect``).

        ``want`` is one :class:`Want`, or one per step for the sequence families
        (``client``, ``admission``), whose answers are ``{"results": [...]}``. ``repaired``
        is the input with the vector's one fault removed (a rejection only): our library
        must accept it. A rejection without a twin gives ``no_twin``, why it has none.
        A precedence vector may give ``alone``: the input with only the deciding fault, and
        the input with only the other one; the first must be rejected with the vector's code,
        the second with another code, so both faults are shown to be there and to differ.
        """
        where = f"{family}/{name}"
        if family not in FAMILIES:
            raise ValueError(f"{where}: unknown family")
        if _NAME.fullmatch(name) is None:
            raise ValueError(f"{where}: a vector name is lowercase words joined by '-'")
        if (family, name) in self.vectors:
            raise ValueError(f"{where}: two vectors of one name")
        if not description.endswith("."):
            raise ValueError(f"{where}: a description is a sentence ending in '.'")
        answer = evaluate(family, inp)
        if isinstance(want, Want):
            expect = _expected(answer, want, where)
        else:
            results = answer.get("results")
            if type(results) is not list or len(results) != len(want):
                raise VectorMismatchError(f"{where}: intended {len(want)} results, got {answer}")
            expect = {
                "results": [
                    _expected(a, w, f"{where} step {i + 1}")
                    for i, (a, w) in enumerate(zip(results, want, strict=True))
                ]
            }
        wants = [want] if isinstance(want, Want) else list(want)
        rejects = any(w.reason is not None for w in wants)
        if (repaired is not None or no_twin is not None) and not rejects:
            raise ValueError(f"{where}: only a rejection has a repaired twin or a no_twin reason")
        if rejects and (repaired is None) == (no_twin is None):
            raise ValueError(
                f"{where}: a rejection names its repaired twin or, when it has none, "
                "no_twin='<kind>: <why>' (one of the two; issue 17)"
            )
        if no_twin is not None:
            kind, sep, why = no_twin.partition(": ")
            if kind not in NO_TWIN_KINDS or not sep or not why:
                raise ValueError(
                    f"{where}: no_twin is '<kind>: <why>', kind one of {NO_TWIN_KINDS}"
                )
            self.untwinned[(family, name)] = no_twin
        if alone is not None:
            if no_twin is None or not no_twin.startswith("precedence: ") or len(alone) != 2:
                raise ValueError(f"{where}: alone is the two faults of a precedence vector")
            self._check_alone(family, where, _first_reason(answer), alone)
            self.split.add((family, name))
        if repaired is not None:
            if dict(repaired) == dict(inp):
                raise ValueError(f"{where}: the repaired twin is the input itself")
            twin = evaluate(family, repaired)
            # A sequence's twin (the same steps with the one fault removed) is accepted at
            # every step.
            answers = [twin] if isinstance(want, Want) else twin.get("results")
            bad = (
                [twin]
                if type(answers) is not list or len(answers) != len(wants)
                else [a for a in answers if a.get("result") != "accept"]
            )
            if bad:
                raise VectorMismatchError(
                    f"{where}: with its fault removed the input is still rejected "
                    f"({bad[0].get('reason')}: {bad[0].get('message')}): it carries another fault"
                )
            self.twinned.add((family, name))
        vector: dict[str, Any] = {
            "description": description,
            "family": family,
            "spec": list(spec),
            "input": dict(inp),
            "expect": expect,
        }
        if source is not None:
            vector["source"] = source
        self.vectors[(family, name)] = vector
        return expect
