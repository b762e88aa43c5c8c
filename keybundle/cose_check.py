"""SPEC §4.3, RFC 9052 §4.4: the one check of a COSE signature by a trust-root key.

A COSE_Sign1's independent signature (:mod:`keybundle.cose`), an RFC 9338 countersignature
(:mod:`keybundle.countersignature`) and a signed trust root's COSE_Sign signatures
(:mod:`keybundle.trustroot`) are all checked here: the key named by the signature's kid is
looked up among the keys the caller trusts (never taken from the data), the signature's
claimed ``alg`` must be that key's, and the signature must verify over the structure the
caller built. :class:`~keybundle.signers.BadSignature` is translated here and nowhere else:
to a reason code when verifying, to ``ValueError`` when a signer checks its own signature
(:func:`sign_checked`).
"""

from __future__ import annotations

from collections.abc import Mapping

from .errors import Reason, VerificationError
from .signers import BadSignature, PublicKey, Signer

__all__ = ["sign_checked", "trusted_key", "verify_cose_signature"]


def trusted_key(keys: Mapping[bytes, PublicKey], kid: bytes, *, what: str, role: str) -> PublicKey:
    """The key ``kid`` names among ``keys``, the ``role`` keys the trust root holds.

    ``what`` names the signature in messages ("the countersignature"). UNKNOWN_KEY if the
    kid is not among them (a key of another role included).
    """
    key = keys.get(kid)
    if key is None:
        raise VerificationError(
            Reason.UNKNOWN_KEY,
            f"{what} names key id {kid.hex()}, which is not one of the {len(keys)} {role} "
            "keys the trust root holds; it was made by another key or for another role",
        )
    if key.kid != kid:
        raise ValueError(f"keys maps kid {kid.hex()} to a key whose kid is {key.kid.hex()}")
    return key


def verify_cose_signature(
    key: PublicKey,
    alg: int,
    message: bytes,
    signature: bytes,
    *,
    what: str,
    over: str,
    bad: Reason,
    advice: str,
) -> None:
    """Check ``signature`` (claiming ``alg``) over ``message`` with ``key``, or raise.

    ALG_MISMATCH if ``alg`` is not the key's algorithm (SPEC §4.3: the alg is fixed by the
    trust root, not chosen by the signer); ``bad`` if the signature does not verify, with
    a message naming ``what``, ``over`` what it was checked and the ``advice``.
    """
    if key.cose_alg != alg:
        raise VerificationError(
            Reason.ALG_MISMATCH,
            f"{what} by key {key.kid.hex()} claims alg {alg}, but that trust-root key is "
            f"{key.algorithm} (alg {key.cose_alg})",
        )
    try:
        key.verify(message, signature)
    except BadSignature as e:
        raise VerificationError(
            bad,
            f"{what} by key {key.kid.hex()} does not verify over {over} ({e}); {advice}",
        ) from None


def sign_checked(signer: Signer, message: bytes, *, what: str = "signature") -> bytes:
    """``signer``'s signature over ``message``, checked under its own public key first.

    A faulty HSM, or a signer that does not normalise ES256 to low-S, must not emit an
    object that verifiers would reject: that is the signer's problem (``ValueError``).
    """
    signature = signer.sign(message)
    try:
        signer.public_key().verify(message, signature)
    except BadSignature as e:
        raise ValueError(
            f"the signer {signer!r} produced a {what} that does not verify under its own "
            f"public key ({e}); check the key or the HSM"
        ) from None
    return signature
