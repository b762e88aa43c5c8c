"""Frozen value classes with what ``@dataclass(frozen=True)`` gives, minus its start-up cost.

``@dataclass`` writes each class's methods as source text and compiles it when the module is
imported: six small functions per frozen class, about 0.3 ms a class on CPython 3.11, and
the ``dataclasses`` module itself imports ``inspect``. Over the 31 value classes that a
fresh ``keybundle verify`` imports that was about as long as importing PyNaCl and cbor2
(bench/bench_verify.py), for methods that are the same every time.

A subclass of :class:`Frozen` declares its fields as annotations, as a dataclass does, and
writes its own ``__init__`` (compiled into the ``.pyc`` like any code), which stores the
fields with :meth:`Frozen._freeze` and checks them. :class:`Frozen` supplies the rest, with
the semantics ``@dataclass(frozen=True)`` generates:

* ``__eq__`` (same class, equal fields), ``__hash__`` (of the fields) and ``__repr__``
  (``Name(field=value, ...)``), over the fields not named in the class's ``_hidden``
  (derived values and caches: a dataclass's ``field(repr=False, compare=False)``);
* assigning or deleting an attribute raises ``dataclasses.FrozenInstanceError``;
* ``__match_args__``, and ``__dataclass_fields__`` built on first use, so that
  ``dataclasses.replace``, ``fields`` and ``asdict`` work (fields that ``__init__`` does not
  take are ``init=False``); building it imports ``dataclasses``, which only tools and tests
  need.

Type checkers see subclasses as frozen dataclasses (``typing.dataclass_transform``).
tests/transparency_log/test_frozen.py checks every value class of both packages against a
real frozen dataclass with the same fields.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, NoReturn, Self, dataclass_transform

if TYPE_CHECKING:
    from dataclasses import Field

__all__ = ["Frozen"]


class _DataclassFields:
    """``__dataclass_fields__`` of a :class:`Frozen` subclass, made when first read.

    Read by ``dataclasses.replace``, ``fields``, ``asdict`` and ``is_dataclass``: the
    fields of a real frozen dataclass with the same names, annotations and ``init``,
    ``repr`` and ``compare`` flags, cached on the class.
    """

    def __get__(self, instance: object, owner: type[Frozen]) -> dict[str, Field[Any]]:
        import dataclasses

        taken = set(_init_parameters(owner))
        annotations: dict[str, Any] = {}
        for klass in reversed(owner.__mro__):  # inherited fields first, as ``_fields`` has them
            annotations.update(klass.__dict__.get("__annotations__", {}))  # noqa: RUF063
        shown = set(owner._compared)
        spec = [
            (
                name,
                annotations[name],
                dataclasses.field(init=name in taken, repr=name in shown, compare=name in shown),
            )
            for name in owner._fields
        ]
        made = dataclasses.make_dataclass(owner.__name__, spec, frozen=True)
        fields = {field.name: field for field in dataclasses.fields(made)}
        type.__setattr__(owner, "__dataclass_fields__", fields)
        return fields


def _init_parameters(cls: type) -> tuple[str, ...]:
    """The names of the parameters of ``cls.__init__`` after ``self``."""
    init = next(klass.__dict__["__init__"] for klass in cls.__mro__ if "__init__" in klass.__dict__)
    code = getattr(init, "__code__", None)
    if code is None:  # object.__init__: no fields taken
        return ()
    names: tuple[str, ...] = code.co_varnames[1 : code.co_argcount + code.co_kwonlyargcount]
    return names


def _is_class_var(annotation: object) -> bool:
    text = annotation if isinstance(annotation, str) else repr(annotation)
    return text.startswith(("ClassVar", "typing.ClassVar"))


@dataclass_transform(frozen_default=True)
class Frozen:
    """Base of an immutable value class; see the module docstring."""

    __slots__ = ()

    _fields: ClassVar[tuple[str, ...]] = ()
    """Every field, in declaration order (inherited ones first)."""
    _hidden: ClassVar[frozenset[str]] = frozenset()
    """Fields left out of ``__eq__``, ``__hash__`` and ``__repr__`` (a subclass sets it)."""
    _compared: ClassVar[tuple[str, ...]] = ()
    """The fields in ``__eq__``, ``__hash__`` and ``__repr__``, in order."""
    __dataclass_fields__: ClassVar[dict[str, Field[Any]]] = _DataclassFields()  # type: ignore[assignment]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Not inspect.get_annotations: importing inspect is what this module avoids.
        own = cls.__dict__.get("__annotations__", {})  # noqa: RUF063
        names = [name for name, annotation in own.items() if not _is_class_var(annotation)]
        cls._fields = (*cls._fields, *(n for n in names if n not in cls._fields))
        cls._compared = tuple(n for n in cls._fields if n not in cls._hidden)
        taken = _init_parameters(cls)
        type.__setattr__(cls, "__match_args__", tuple(n for n in cls._fields if n in taken))

    @classmethod
    def _unchecked(cls, **fields: object) -> Self:
        """An instance with these fields, skipping ``__init__`` and its checks: for a parser
        that has made every one of them already, on the verifier's hot path."""
        obj = object.__new__(cls)
        obj.__dict__.update(fields)
        return obj

    def _freeze(self, **fields: object) -> None:
        """Store the fields: what a frozen dataclass's ``__init__`` does before
        ``__post_init__``."""
        self.__dict__.update(fields)

    def __setattr__(self, name: str, value: object) -> NoReturn:
        from dataclasses import FrozenInstanceError

        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> NoReturn:
        from dataclasses import FrozenInstanceError

        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def _values(self) -> tuple[object, ...]:
        values = self.__dict__
        return tuple([values[name] for name in self._compared])

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            return self._values() == other._values()
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        values = self.__dict__
        shown = ", ".join(f"{name}={values[name]!r}" for name in self._compared)
        return f"{self.__class__.__qualname__}({shown})"
