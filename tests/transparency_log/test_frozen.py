"""transparency_log._frozen: value classes that behave as ``@dataclass(frozen=True)`` ones.

Every Frozen subclass of both packages is compared with a real frozen dataclass of the same
fields: equality, hashing, repr, immutability, and the ``dataclasses`` functions.
"""

from __future__ import annotations

import dataclasses
import importlib
import subprocess
import sys
from typing import Any

import pytest

from tests.conftest import REPO
from transparency_log._frozen import Frozen

MODULES = [
    "transparency_log.note",
    "transparency_log.note_keys",
    "transparency_log.cosignature",
    "transparency_log.checkpoint",
    "transparency_log.tlog_proof",
    "transparency_log.policy",
    "keybundle.dcbor",
    "keybundle.countersignature",
    "keybundle.cose",
    "keybundle.package",
    "keybundle.payload",
    "keybundle.roles",
    "keybundle.signers",
    "keybundle.state",
    "keybundle.trustroot",
    "keybundle.signed_trust_root",
    "keybundle.client",
    "keybundle.trustchain",
    "keybundle.embedded",
]


def _subclasses(cls: type) -> list[type[Any]]:
    found: list[type[Any]] = []
    sub: type[Any]
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_subclasses(sub))
    return found


for _name in MODULES:
    importlib.import_module(_name)
CLASSES = sorted(
    (c for c in _subclasses(Frozen) if c.__module__ in MODULES),
    key=lambda c: f"{c.__module__}.{c.__qualname__}",
)


_REFERENCES: dict[type[Any], type[Any]] = {}


def _reference(cls: type[Any]) -> type[Any]:
    """The frozen dataclass that ``cls`` stands for: same fields, same repr/compare flags."""
    if cls not in _REFERENCES:
        shown = set(cls._compared)
        spec = [
            (name, object, dataclasses.field(repr=name in shown, compare=name in shown))
            for name in cls._fields
        ]
        _REFERENCES[cls] = dataclasses.make_dataclass(cls.__qualname__, spec, frozen=True)
    return _REFERENCES[cls]


def _pair(cls: type[Any], values: dict[str, object]) -> tuple[Any, Any]:
    ours = object.__new__(cls)
    ours.__dict__.update(values)
    return ours, _reference(cls)(**values)


def test_the_verifier_classes_are_all_frozen() -> None:
    assert len(CLASSES) >= 31
    assert not [
        c for c in CLASSES if dataclasses.is_dataclass(c) and "__dataclass_params__" in vars(c)
    ]


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__qualname__)
def test_equality_hash_and_repr_are_the_frozen_dataclasses(cls: type[Any]) -> None:
    values: dict[str, object] = {name: f"v{i}" for i, name in enumerate(cls._fields)}
    ours, ref = _pair(cls, values)
    assert repr(ours) == repr(ref)
    assert hash(ours) == hash(ref)
    same, _ = _pair(cls, dict(values))
    assert ours == same
    assert ours != ref  # another class: unequal, as between two dataclasses
    for name in cls._fields:
        changed, ref_changed = _pair(cls, {**values, name: "other"})
        assert (ours == changed) == (ref == ref_changed), name


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__qualname__)
def test_instances_are_immutable(cls: type[Any]) -> None:
    ours, _ = _pair(cls, {name: 0 for name in cls._fields})
    for name in (*cls._fields, "new_attribute"):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(ours, name, 1)
        with pytest.raises(dataclasses.FrozenInstanceError):
            delattr(ours, name)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__qualname__)
def test_dataclasses_functions_see_the_fields(cls: type[Any]) -> None:
    fields = dataclasses.fields(cls)
    assert [f.name for f in fields] == list(cls._fields)
    init = cls.__init__.__code__.co_varnames[1 : cls.__init__.__code__.co_argcount]
    assert [f.name for f in fields if f.init] == list(init)
    assert cls.__match_args__ == init
    assert [f.name for f in fields if f.compare] == list(cls._compared)


def test_replace_builds_through_init() -> None:
    from keybundle.package import ConsistencyProof

    proof = ConsistencyProof(3, (b"\x00" * 32,))
    assert dataclasses.replace(proof, old_size=4) == ConsistencyProof(4, (b"\x00" * 32,))
    assert dataclasses.asdict(proof) == {"old_size": 3, "hashes": (b"\x00" * 32,)}


def test_init_false_fields_are_not_taken_by_replace() -> None:
    from keybundle.signers import Ed25519Signer

    key = Ed25519Signer(bytes(32)).public_key()
    assert dataclasses.replace(key) == key
    with pytest.raises(ValueError, match="init=False"):
        dataclasses.replace(key, kid=b"")


def test_the_verify_path_does_not_import_dataclasses() -> None:
    # The point of Frozen: a fresh `keybundle verify` skips dataclasses (and inspect).
    code = (
        "import sys, keybundle.client, keybundle.state, keybundle_cli.verify\n"
        "print(' '.join(sorted(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert not {"dataclasses", "inspect"} & set(out.stdout.split())
