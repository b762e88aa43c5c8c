"""RFC 7512 PKCS#11 URIs and a signer whose key stays in an HSM (SPEC §4.3).

``pkcs11:token=<label>;object=<label>;type=private?module-path=<library>&pin-source=<file>``
names a private key in a PKCS#11 token. :class:`Pkcs11Signer` signs with it through
python-pkcs11 (the optional ``hsm`` extra): Ed25519 with CKM_EDDSA, P-256 with CKM_ECDSA
over a SHA-256 digest, converted to COSE r || s in low-S form. The private key never leaves
the token.

python-pkcs11 is imported lazily, inside the functions that talk to a token, so that
importing ``keybundle`` (the client verifier in particular) never loads it.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes

from .signers import (
    COSE_ALG_EDDSA,
    COSE_ALG_ES256,
    Algorithm,
    PublicKey,
    normalize_es256_signature,
)

__all__ = [
    "MAX_PIN_FILE_BYTES",
    "Pkcs11Signer",
    "Pkcs11Uri",
    "generate_pkcs11_key",
    "parse_pkcs11_uri",
]

MAX_PIN_FILE_BYTES = 1024
"""Largest PIN file read through ``pin-source`` (SPEC §11)."""

_EC_PARAMS_P256 = bytes.fromhex("06082a8648ce3d030107")
"""DER OID prime256v1 / secp256r1 (RFC 5480)."""
_EC_PARAMS_ED25519 = (
    bytes.fromhex("06032b6570"),  # OID id-Ed25519 (RFC 8410)
    bytes.fromhex("130c") + b"edwards25519",  # PrintableString (PKCS#11 3.0, SoftHSM)
)

_PATH_ATTRIBUTES = ("token", "manufacturer", "serial", "model", "object", "type", "id")
_QUERY_ATTRIBUTES = ("pin-source", "pin-value", "module-path", "module-name")
_TYPES = ("public", "private", "cert", "secret-key", "data")
# RFC 7512 §2.3: pk11-pchar is unreserved / pct-encoded / a few sub-delims and ':' '[' ']' '@'
# '!' '$' "'" '(' ')' '*' '+' ',' '=' (path) or also '/' '?' '|' (query).
_PATH_VALUE = re.compile(r"(?:[A-Za-z0-9\-._~:\[\]@!$'()*+,=&]|%[0-9A-Fa-f]{2})*")
_QUERY_VALUE = re.compile(r"(?:[A-Za-z0-9\-._~:\[\]@!$'()*+,=/?|;]|%[0-9A-Fa-f]{2})*")


@dataclass(frozen=True)
class Pkcs11Uri:
    """The attributes of a ``pkcs11:`` URI that this profile supports (RFC 7512 §2.3)."""

    token: str | None = None
    manufacturer: str | None = None
    serial: str | None = None
    model: str | None = None
    object: str | None = None
    type: str | None = None
    id: bytes | None = None
    module_path: str | None = None
    module_name: str | None = None
    pin_source: str | None = None
    pin_value: str | None = field(default=None, repr=False)


def _decode_value(raw: str) -> bytes:
    return unquote_to_bytes(raw) if "%" in raw else raw.encode("ascii")


def parse_pkcs11_uri(uri: str) -> Pkcs11Uri:
    """Parse a PKCS#11 URI strictly (RFC 7512); ValueError for anything outside the profile.

    Path attributes: token, manufacturer, serial, model, object, type, id. Query
    attributes: pin-source, pin-value, module-path, module-name. Each at most once;
    pin-source and pin-value not both; values percent-decoded (text as UTF-8, ``id`` as
    bytes). Unknown attributes are errors, not ignored: a URI that names a key more
    narrowly than we understand must not match a different key. Error messages never
    repeat a pin-value.
    """
    if not isinstance(uri, str):
        raise TypeError("a PKCS#11 URI is a str")
    if not uri.startswith("pkcs11:"):
        raise ValueError("a PKCS#11 URI starts with 'pkcs11:'")
    rest = uri[len("pkcs11:") :]
    path, _, query = rest.partition("?")
    values: dict[str, bytes] = {}
    for part, sep, allowed, pattern in (
        (path, ";", _PATH_ATTRIBUTES, _PATH_VALUE),
        (query, "&", _QUERY_ATTRIBUTES, _QUERY_VALUE),
    ):
        if not part:
            continue
        for attribute in part.split(sep):
            name, eq, raw = attribute.partition("=")
            if not eq:
                raise ValueError(f"PKCS#11 URI attribute {name!r} has no '='")
            if name not in allowed:
                raise ValueError(
                    f"PKCS#11 URI attribute {name!r} is not supported here; supported: "
                    f"{', '.join(allowed)}"
                )
            if name in values:
                raise ValueError(f"PKCS#11 URI attribute {name!r} appears twice")
            if pattern.fullmatch(raw) is None:
                shown = "(hidden)" if name == "pin-value" else repr(raw)
                raise ValueError(f"PKCS#11 URI attribute {name!r} has an invalid value {shown}")
            values[name] = _decode_value(raw)
    if "pin-source" in values and "pin-value" in values:
        raise ValueError("a PKCS#11 URI may give pin-source or pin-value, not both")
    kind = values.get("type")
    if kind is not None and kind.decode("ascii") not in _TYPES:
        raise ValueError(f"PKCS#11 URI type must be one of {', '.join(_TYPES)}")

    def text(name: str) -> str | None:
        value = values.get(name)
        if value is None:
            return None
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"PKCS#11 URI attribute {name!r} is not UTF-8") from None

    return Pkcs11Uri(
        token=text("token"),
        manufacturer=text("manufacturer"),
        serial=text("serial"),
        model=text("model"),
        object=text("object"),
        type=text("type"),
        id=values.get("id"),
        module_path=text("module-path"),
        module_name=text("module-name"),
        pin_source=text("pin-source"),
        pin_value=text("pin-value"),
    )


# -- talking to a token ----------------------------------------------------------------------


def _import_pkcs11() -> Any:
    try:
        import pkcs11  # lazy: the verifier must never load python-pkcs11
    except ImportError:
        raise ValueError(
            "PKCS#11 keys need python-pkcs11: install keybundle with the 'hsm' extra"
        ) from None
    return pkcs11


@contextlib.contextmanager
def _translate_errors(what: str) -> Iterator[None]:
    """The one place that turns python-pkcs11's exceptions into ours."""
    from pkcs11 import exceptions as e

    try:
        yield
    except (e.PinIncorrect, e.PinInvalid, e.PinLenRange, e.PinLocked, e.PinExpired):
        raise ValueError(f"{what}: the token rejected the PIN") from None
    except e.NoSuchToken:
        raise ValueError(f"{what}: no token matches the URI") from None
    except e.MultipleTokensReturned:
        raise ValueError(
            f"{what}: several tokens match the URI; name one (token=, serial=)"
        ) from None
    except e.NoSuchKey:
        raise ValueError(f"{what}: no key in the token matches the URI") from None
    except e.MultipleObjectsReturned:
        raise ValueError(f"{what}: several keys match the URI; name one (object=, id=)") from None
    except e.PKCS11Error as err:
        raise RuntimeError(f"{what}: PKCS#11 error {type(err).__name__}") from None


def _resolve_pin(uri: Pkcs11Uri, pin: Callable[[], bytes] | bytes | None) -> str:
    """RFC 7512 §2.3: pin-value, else pin-source (a file path or file: URI), else ``pin``."""
    if uri.pin_value is not None:
        return uri.pin_value
    if uri.pin_source is not None:
        source = uri.pin_source
        if source.startswith("file:"):
            source = source[len("file:") :]
            if source.startswith("//"):
                source = source[2:]
        if not source.startswith("/"):
            raise ValueError(
                "pin-source must be an absolute file path or file: URI (commands are not run)"
            )
        with Path(source).open("rb") as f:
            data = f.read(MAX_PIN_FILE_BYTES + 1)
        if len(data) > MAX_PIN_FILE_BYTES:
            raise ValueError(f"PIN file {source} is larger than {MAX_PIN_FILE_BYTES} bytes")
        # Like a passphrase file (SPEC §4.3): one trailing LF or CRLF goes, nothing more.
        newline = b"\r\n" if data.endswith(b"\r\n") else b"\n"
        return data.removesuffix(newline).decode("utf-8")
    if pin is None:
        raise ValueError(
            "no PIN for the PKCS#11 token: give pin-source or pin-value in the URI, or a "
            "passphrase source"
        )
    value = pin() if callable(pin) else pin
    return value.decode("utf-8")


def _find_token(uri: Pkcs11Uri) -> tuple[Any, tuple[str, bytes]]:
    """The one token the URI names, and its registry key (module path, serial number)."""
    if uri.module_path is None:
        raise ValueError("the PKCS#11 URI needs module-path=<path of the PKCS#11 library>")
    p11 = _import_pkcs11()
    lib = p11.lib(uri.module_path)
    kwargs: dict[str, Any] = {}
    if uri.token is not None:
        kwargs["token_label"] = uri.token
    if uri.serial is not None:
        kwargs["token_serial"] = uri.serial.encode("utf-8")
    tokens = [
        t
        for t in lib.get_tokens(**kwargs)
        if (uri.manufacturer is None or t.manufacturer_id == uri.manufacturer)
        and (uri.model is None or t.model == uri.model)
    ]
    if not tokens:
        raise ValueError("no PKCS#11 token matches the URI")
    if len(tokens) > 1:
        raise ValueError("several PKCS#11 tokens match the URI; name one (token=, serial=)")
    return tokens[0], (uri.module_path, bytes(tokens[0].serial))


@dataclass
class _Login:
    """One logged-in session per token, shared by this process's signers.

    PKCS#11 login state belongs to the application, not the session: a second C_Login fails
    (CKR_USER_ALREADY_LOGGED_IN) and closing a logged-in session logs every session out. So
    signers of one token share one session, counted, and the last one to close logs out.
    """

    session: Any
    users: int
    lock: threading.Lock = field(default_factory=threading.Lock)


_LOGINS: dict[tuple[str, bytes], _Login] = {}
_LOGINS_LOCK = threading.Lock()


def _acquire_login(uri: Pkcs11Uri, pin: str) -> tuple[tuple[str, bytes], _Login]:
    p11 = _import_pkcs11()
    with _LOGINS_LOCK:
        token, key = _find_token(uri)
        login = _LOGINS.get(key)
        if login is None:
            try:
                session = token.open(rw=False, user_pin=pin)
            except p11.exceptions.UserAlreadyLoggedIn:
                # Logged in by other code in this process: its login serves us too.
                session = token.open(rw=False)
            login = _LOGINS[key] = _Login(session, 0)
        login.users += 1
        return key, login


def _release_login(key: tuple[str, bytes]) -> None:
    with _LOGINS_LOCK:
        login = _LOGINS[key]
        login.users -= 1
        if login.users == 0:
            del _LOGINS[key]
            login.session.close()


def _key_query(uri: Pkcs11Uri) -> dict[str, Any]:
    if uri.object is None and uri.id is None:
        raise ValueError("the PKCS#11 URI must name the key: object=<label> and/or id=<id>")
    query: dict[str, Any] = {}
    if uri.object is not None:
        query["label"] = uri.object
    if uri.id is not None:
        query["id"] = uri.id
    return query


def _unwrap_ec_point(point: bytes, size: int) -> bytes:
    """CKA_EC_POINT is a DER OCTET STRING of the point; some tokens give the raw point."""
    if len(point) == size:
        return point
    if len(point) == size + 2 and point[0] == 0x04 and point[1] == size:
        return point[2:]
    raise ValueError("the token's public key (CKA_EC_POINT) has an unexpected encoding")


def _public_key(session: Any, private: Any, p11: Any) -> tuple[Algorithm, PublicKey]:
    attr, key_type, object_class = p11.Attribute, p11.KeyType, p11.ObjectClass
    params = bytes(private[attr.EC_PARAMS])
    if private.key_type == key_type.EC_EDWARDS and params in _EC_PARAMS_ED25519:
        algorithm: Algorithm = "ed25519"
        size = 32
    elif private.key_type == key_type.EC and params == _EC_PARAMS_P256:
        algorithm = "p256"
        size = 65
    else:
        raise ValueError("the PKCS#11 key is neither Ed25519 nor ECDSA P-256")
    query: dict[str, Any] = {"object_class": object_class.PUBLIC_KEY}
    label = private[attr.LABEL]
    key_id = bytes(private[attr.ID])
    if key_id:
        query["id"] = key_id
    if label:
        query["label"] = label
    public = session.get_key(**query)
    raw = _unwrap_ec_point(bytes(public[attr.EC_POINT]), size)
    return algorithm, PublicKey(algorithm, raw)


class Pkcs11Signer:
    """A :class:`~keybundle.signers.Signer` whose private key is in a PKCS#11 token.

    Holds a (shared) logged-in session until :meth:`close` (or the end of a ``with`` block).
    """

    __slots__ = (
        "_closed",
        "_key",
        "_login",
        "_login_key",
        "_mechanism",
        "_public",
        "_uri",
        "algorithm",
        "cose_alg",
    )

    algorithm: Algorithm
    cose_alg: int

    def __init__(
        self,
        login_key: tuple[str, bytes],
        login: _Login,
        key: Any,
        public: PublicKey,
        uri: Pkcs11Uri,
    ) -> None:
        """Use :meth:`open`."""
        self._login_key = login_key
        self._login = login
        self._key = key
        self._public = public
        self._uri = uri
        self._closed = False
        self.algorithm = public.algorithm
        self.cose_alg = COSE_ALG_EDDSA if public.algorithm == "ed25519" else COSE_ALG_ES256
        p11 = _import_pkcs11()
        self._mechanism = (
            p11.Mechanism.EDDSA if public.algorithm == "ed25519" else p11.Mechanism.ECDSA
        )

    @classmethod
    def open(
        cls, uri: str | Pkcs11Uri, *, pin: Callable[[], bytes] | bytes | None = None
    ) -> Pkcs11Signer:
        """Log in to the token a URI names and find its private key (SPEC §4.3)."""
        parsed = parse_pkcs11_uri(uri) if isinstance(uri, str) else uri
        if parsed.type not in (None, "private"):
            raise ValueError("a signing key URI must name a private key (type=private)")
        query = _key_query(parsed)
        if parsed.module_path is None:
            raise ValueError("the PKCS#11 URI needs module-path=<path of the PKCS#11 library>")
        what = f"PKCS#11 key {parsed.object or (parsed.id or b'').hex()!r}"
        user_pin = _resolve_pin(parsed, pin)
        p11 = _import_pkcs11()
        with _translate_errors(what):
            login_key, login = _acquire_login(parsed, user_pin)
            try:
                with login.lock:
                    private = login.session.get_key(
                        object_class=p11.ObjectClass.PRIVATE_KEY, **query
                    )
                    _, public = _public_key(login.session, private, p11)
            except BaseException:
                _release_login(login_key)
                raise
        return cls(login_key, login, private, public, parsed)

    @property
    def kid(self) -> bytes:
        return self._public.kid

    def public_key(self) -> PublicKey:
        return self._public

    def sign(self, message: bytes) -> bytes:
        """Sign in the token: CKM_EDDSA over the message, or CKM_ECDSA over SHA-256(message)."""
        if self._closed:
            raise ValueError("this PKCS#11 signer is closed")
        with _translate_errors("PKCS#11 signing"), self._login.lock:
            if self.algorithm == "ed25519":
                return bytes(self._key.sign(message, mechanism=self._mechanism))
            digest = hashlib.sha256(message).digest()
            raw = bytes(self._key.sign(digest, mechanism=self._mechanism))
        return normalize_es256_signature(raw)

    def close(self) -> None:
        """Release the session (the last signer of a token logs out). Idempotent."""
        if self._closed:
            return
        self._closed = True
        with _translate_errors("PKCS#11 close"):
            _release_login(self._login_key)

    def __enter__(self) -> Pkcs11Signer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Pkcs11Signer(kid={self.kid.hex()}, object={self._uri.object!r})"

    __str__ = __repr__


def generate_pkcs11_key(
    uri: str | Pkcs11Uri,
    algorithm: Algorithm,
    *,
    pin: Callable[[], bytes] | bytes | None = None,
) -> PublicKey:
    """Generate a key pair inside the token; the private key is sensitive and unextractable.

    The URI's ``object`` (and ``id``, if given) label both halves. Refuses if a private key
    with that label already exists (a key is never replaced).
    """
    parsed = parse_pkcs11_uri(uri) if isinstance(uri, str) else uri
    if parsed.object is None:
        raise ValueError("generating a PKCS#11 key needs object=<label> in the URI")
    if algorithm == "ed25519":
        params, size = _EC_PARAMS_ED25519[0], 32
    elif algorithm == "p256":
        params, size = _EC_PARAMS_P256, 65
    else:
        raise ValueError(f"unknown key algorithm {algorithm!r}: expected ed25519 or p256")
    p11 = _import_pkcs11()
    attr = p11.Attribute
    user_pin = _resolve_pin(parsed, pin)
    what = f"PKCS#11 key generation {parsed.object!r}"
    with _translate_errors(what):
        login_key, login = _acquire_login(parsed, user_pin)
        try:
            token, _ = _find_token(parsed)
            # A read/write session without its own login: it shares the login above.
            with login.lock, token.open(rw=True) as session:
                existing = list(
                    session.get_objects(
                        {attr.CLASS: p11.ObjectClass.PRIVATE_KEY, attr.LABEL: parsed.object}
                    )
                )
                if existing:
                    raise ValueError(f"the token already holds a key labelled {parsed.object!r}")
                key_type = p11.KeyType.EC_EDWARDS if algorithm == "ed25519" else p11.KeyType.EC
                public, _ = session.generate_keypair(
                    key_type,
                    store=True,
                    label=parsed.object,
                    id=parsed.id if parsed.id is not None else b"",
                    public_template={attr.EC_PARAMS: params},
                    private_template={
                        attr.SENSITIVE: True,
                        attr.EXTRACTABLE: False,
                        attr.PRIVATE: True,
                    },
                )
                raw = _unwrap_ec_point(bytes(public[attr.EC_POINT]), size)
        finally:
            _release_login(login_key)
    return PublicKey(algorithm, raw)
