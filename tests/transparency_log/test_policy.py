"""C2SP tlog-policy (SPEC §2.8): strict parsing, canonical form, quorum, checkpoints."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transparency_log import note
from transparency_log.checkpoint import Checkpoint
from transparency_log.cosignature import CosignatureV1Signer
from transparency_log.errors import LogReason, VerificationError
from transparency_log.policy import (
    MAX_POLICY_BYTES,
    MAX_POLICY_GROUPS,
    MAX_POLICY_LOGS,
    MAX_POLICY_WITNESSES,
    NONE,
    Policy,
    PolicyGroup,
    PolicyLog,
    PolicyWitness,
    Threshold,
    parse_policy,
)


def _seed(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


def log_signer(name: str = "log.example/a", label: str | None = None) -> note.Ed25519Signer:
    return note.Ed25519Signer(name, _seed(f"log {label or name}"))


def witness_signer(name: str, label: str | None = None) -> CosignatureV1Signer:
    return CosignatureV1Signer(name, _seed(f"witness {label or name}"))


LOG = log_signer()
LOG_VKEY = LOG.verifier().verifier_key
W = {
    n: witness_signer(f"witness.example/{n.lower()}") for n in ("X1", "X2", "X3", "Y1", "Y2", "Y3")
}
VKEY = {n: s.verifier().verifier_key for n, s in W.items()}
KEY_NAME = {n: s.name for n, s in W.items()}

# The example of C2SP tlog-policy: two organisations, quorum = 2 of X and 1 of Y.
EXAMPLE = (
    f"log {LOG_VKEY}\n"
    + "".join(f"witness {n} {VKEY[n]}\n" for n in ("X1", "X2", "X3", "Y1", "Y2", "Y3"))
    + "group X-witnesses 2 X1 X2 X3\n"
    "group Y-witnesses any Y1 Y2 Y3\n"
    "group X-and-Y all X-witnesses Y-witnesses\n"
    "quorum X-and-Y\n"
)


def malformed(text: str | bytes) -> VerificationError:
    with pytest.raises(VerificationError) as info:
        parse_policy(text)
    assert info.value.reason == LogReason.MALFORMED_POLICY
    return info.value


# --- parsing and the canonical form ---------------------------------------------------------


def test_canonical_example_round_trips_byte_for_byte() -> None:
    policy = parse_policy(EXAMPLE)
    assert policy.format() == EXAMPLE
    assert parse_policy(EXAMPLE.encode()) == policy
    assert [g.k for g in policy.groups] == [2, 1, 2]
    assert policy.quorum == "X-and-Y"
    assert policy.logs[0].origin == "log.example/a"
    assert policy.witnesses[0].key_name == "witness.example/x1"
    assert policy.witness_vkeys == tuple(VKEY[n] for n in ("X1", "X2", "X3", "Y1", "Y2", "Y3"))
    assert [v.name for v in policy.log_verifiers()] == ["log.example/a"]
    assert [v.name for v in policy.witness_verifiers()] == [KEY_NAME[n] for n in VKEY]


def test_comments_blank_lines_tabs_and_late_definitions_parse_to_the_canonical_form() -> None:
    text = (
        "# a comment\n"
        "\n"
        "   \t\n"
        f"\twitness   w1\t{VKEY['X1']}   https://w1.example/ \n"
        "  # an indented comment\n"
        "quorum w1\n"
        f"log {LOG_VKEY}\n"  # definitions may follow the quorum line
        f"witness w2 {VKEY['X2']}\n"
    )
    policy = parse_policy(text)
    assert policy.format() == (
        f"log {LOG_VKEY}\n"
        f"witness w1 {VKEY['X1']} https://w1.example/\n"
        f"witness w2 {VKEY['X2']}\n"
        "quorum w1\n"
    )
    assert policy.witnesses[0].url == "https://w1.example/"
    assert parse_policy(policy.format()) == policy


def test_minimal_policies() -> None:
    assert parse_policy("quorum none\n") == Policy((), (), (), NONE)
    assert parse_policy("quorum none\n").quorum_satisfied(set())
    assert parse_policy(f"log {LOG_VKEY} https://log.example/\nquorum none\n").logs == (
        PolicyLog(LOG_VKEY, "https://log.example/"),
    )


def test_thresholds_are_kept_as_written() -> None:
    text = f"witness a {VKEY['X1']}\nwitness b {VKEY['X2']}\ngroup g 2 a b\nquorum g\n"
    assert parse_policy(text).groups[0].threshold == 2
    for written in ("all", "any", "1"):
        policy = parse_policy(text.replace(" 2 a b", f" {written} a b"))
        assert policy.format() == text.replace(" 2 a b", f" {written} a b")


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    """Random valid policies: 0-2 logs, 0-5 witnesses, groups over unused names."""
    n_logs = draw(st.integers(0, 2))
    logs = tuple(
        PolicyLog(
            log_signer(f"log{i}.example", f"{i}").verifier().verifier_key,
            draw(st.none() | st.just(f"https://log{i}.example/")),
        )
        for i in range(n_logs)
    )
    n_witnesses = draw(st.integers(0, 5))
    names = ["X1", "X2", "X3", "Y1", "Y2", "Y3"][:n_witnesses]
    local = draw(st.lists(st.sampled_from(["w", "wit-", "ü", "#"]), min_size=1, max_size=1))[0]
    witnesses = tuple(
        PolicyWitness(f"{local}{i}", VKEY[n], draw(st.none() | st.just(f"https://{i}.example")))
        for i, n in enumerate(names)
    )
    available = [w.name for w in witnesses]
    groups: list[PolicyGroup] = []
    for g in range(draw(st.integers(0, 3))):
        if not available:
            break
        members = draw(st.lists(st.sampled_from(available), min_size=1, unique=True))
        words: list[Threshold] = ["all", "any"]
        threshold: Threshold = draw(st.sampled_from(words) | st.integers(1, len(members)))
        group = PolicyGroup(f"g{g}", threshold, tuple(members))
        groups.append(group)
        available = [n for n in available if n not in members] + [group.name]
    quorum = draw(st.sampled_from([NONE, *(w.name for w in witnesses), *(g.name for g in groups)]))
    return Policy(logs, witnesses, tuple(groups), quorum)


@given(policies())
def test_format_then_parse_round_trips(policy: Policy) -> None:
    text = policy.format()
    assert parse_policy(text) == policy
    assert parse_policy(text).format() == text


@given(policies(), st.data())
def test_whitespace_and_comments_do_not_change_the_policy(
    policy: Policy, data: st.DataObject
) -> None:
    spaces = st.text(alphabet=" \t", min_size=1, max_size=3)
    lines = []
    for line in policy.format().splitlines():
        fields = line.split(" ")
        lead = data.draw(st.text(alphabet=" \t", max_size=2))
        trail = data.draw(st.text(alphabet=" \t", max_size=2))
        lines.append(
            lead + "".join(f + data.draw(spaces) for f in fields[:-1]) + fields[-1] + trail
        )
        if data.draw(st.booleans()):
            lines.append(data.draw(st.sampled_from(["", "\t", "# note", "  #", "#quorum x"])))
    assert parse_policy("".join(line + "\n" for line in lines)) == policy


# --- rejections -------------------------------------------------------------------------------

_X1, _X2, _Y1 = VKEY["X1"], VKEY["X2"], VKEY["Y1"]
_BASE = f"witness a {_X1}\nwitness b {_X2}\n"

REJECTED: dict[str, str | bytes] = {
    "no quorum line": _BASE,
    "two quorum lines": _BASE + "quorum a\nquorum b\n",
    "quorum with two names": _BASE + "quorum a b\n",
    "quorum forward reference": f"quorum a\nwitness a {_X1}\n",
    "quorum of an undefined name": _BASE + "quorum c\n",
    "witness name defined twice": f"witness a {_X1}\nwitness a {_X2}\nquorum a\n",
    "group name defined twice": _BASE + "group g any a\ngroup g any b\nquorum g\n",
    "group named like a witness": _BASE + "group a any b\nquorum a\n",
    "group forward reference to a witness": f"witness a {_X1}\ngroup g any a b\n"
    f"witness b {_X2}\nquorum g\n",
    "group forward reference to a group": _BASE + "group g any h\ngroup h any a\nquorum g\n",
    "group referring to itself": _BASE + "group g any g\nquorum g\n",
    "member listed twice in one group": _BASE + "group g 1 a a\nquorum g\n",
    "member listed in two groups": _BASE + "group g any a\ngroup h any a b\nquorum h\n",
    "group without members": _BASE + "group g any\nquorum g\n",
    "threshold 0": _BASE + "group g 0 a b\nquorum g\n",
    "threshold above the member count": _BASE + "group g 3 a b\nquorum g\n",
    "threshold with a leading zero": _BASE + "group g 01 a b\nquorum g\n",
    "threshold with a sign": _BASE + "group g +1 a b\nquorum g\n",
    "threshold in uppercase": _BASE + "group g ALL a b\nquorum g\n",
    "threshold in non-ASCII digits": _BASE + "group g \u0661 a b\nquorum g\n",
    "defining the name none": f"witness none {_X1}\nquorum none\n",
    "group named none": _BASE + "group none any a\nquorum none\n",
    "none as a member": _BASE + "group g any a none\nquorum g\n",
    "unknown keyword": _BASE + "threshold 2\nquorum a\n",
    "keyword in uppercase": f"WITNESS a {_X1}\nquorum a\n",
    "trailing comment": f"witness a {_X1} # the first witness\nquorum a\n",
    "log line with two URLs": f"log {LOG_VKEY} https://a https://b\nquorum none\n",
    "log line without a key": "log\nquorum none\n",
    "witness line without a key": "witness a\nquorum none\n",
    "witness line with two URLs": f"witness a {_X1} https://a https://b\nquorum a\n",
    "witness key used as a log key": f"log {_X1}\nquorum none\n",
    "log key used as a witness key": f"witness a {LOG_VKEY}\nquorum a\n",
    "verifier key with a wrong key hash": "witness a " + _X1.replace("+", "+0", 1)[:-1] + "\n",
    "verifier key with bad base64": f"witness a {_X1[:-2]}\nquorum a\n",
    "same log key twice": f"log {LOG_VKEY}\nlog {LOG_VKEY} https://mirror\nquorum none\n",
    "same witness key under two names": f"witness a {_X1}\nwitness b {_X1}\nquorum a\n",
    "same key as log and witness": (
        f"log {LOG_VKEY}\nwitness a "
        + note.encode_verifier_key(LOG.name, 0x04, LOG.public_key)
        + "\nquorum a\n"
    ),
    # rule 6 holds "whatever the key names": the 32 key bytes decide
    "same log public key under two key names": (
        f"log {LOG_VKEY}\nlog "
        + note.encode_verifier_key("other.example/log", 0x01, LOG.public_key)
        + "\nquorum none\n"
    ),
    "same witness public key under two key names": (
        f"witness a {_X1}\nwitness b "
        + note.encode_verifier_key(
            "witness.example/other", 0x04, witness_signer(KEY_NAME["X1"]).public_key
        )
        + "\nquorum a\n"
    ),
    "same key as log and witness under another key name": (
        f"log {LOG_VKEY}\nwitness a "
        + note.encode_verifier_key("witness.example/other", 0x04, LOG.public_key)
        + "\nquorum a\n"
    ),
    # a witness key named like the log could share the log key's 4-byte key hash
    "witness key named like the log": (
        f"log {LOG_VKEY}\nwitness a "
        + witness_signer(LOG.name, "clash").verifier().verifier_key
        + "\nquorum a\n"
    ),
    "log key named like a witness": (
        f"witness a {_X1}\nlog "
        + log_signer(KEY_NAME["X1"]).verifier().verifier_key
        + "\nquorum a\n"
    ),
    "two witnesses with one key name": (
        f"witness a {_X1}\nwitness b "
        + witness_signer(KEY_NAME["X1"], "other").verifier().verifier_key
        + "\nquorum a\n"
    ),
    "missing final newline": _BASE + "quorum a",
    "CRLF line ends": (_BASE + "quorum a\n").replace("\n", "\r\n"),
    "a NUL byte": _BASE + "quorum a\x00\n",
    "a DEL character": _BASE + "# \x7f\nquorum a\n",
    "a C1 control character": _BASE + "# \x85\nquorum a\n",
    "a vertical tab as whitespace": _BASE + "quorum\x0ba\n",
    "not UTF-8": (_BASE + "# caf\xe9\nquorum a\n").encode("latin-1"),
    "a lone surrogate": _BASE + "# \ud800\nquorum a\n",
    "over the size limit": "#" * MAX_POLICY_BYTES + "\nquorum none\n",
    "too many logs": "".join(
        f"log {log_signer(f'l{i}.example').verifier().verifier_key}\n"
        for i in range(MAX_POLICY_LOGS + 1)
    )
    + "quorum none\n",
    "too many witnesses": "".join(
        f"witness w{i} {witness_signer(f'w{i}.example').verifier().verifier_key}\n"
        for i in range(MAX_POLICY_WITNESSES + 1)
    )
    + "quorum none\n",
    "too many groups": f"witness a {_X1}\n"
    + "group g0 any a\n"
    + "".join(f"group g{i} any g{i - 1}\n" for i in range(1, MAX_POLICY_GROUPS + 1))
    + "quorum none\n",
}


@pytest.mark.parametrize("case", REJECTED)
def test_rejected(case: str) -> None:
    error = malformed(REJECTED[case])
    assert error.message.startswith("policy")


def test_error_names_the_line() -> None:
    assert malformed(_BASE + "group g any c\nquorum g\n").message.startswith("policy line 3:")
    assert "defined before" in malformed(_BASE + "quorum c\n").message


def test_wrong_argument_types_are_caller_errors() -> None:
    with pytest.raises(TypeError):
        parse_policy(None)  # type: ignore[arg-type]
    policy = parse_policy(EXAMPLE)
    with pytest.raises(TypeError):
        policy.quorum_satisfied("witness.example/x1")


def test_building_an_invalid_policy_is_a_value_error() -> None:
    a = PolicyWitness("a", _X1)
    with pytest.raises(ValueError, match="defined before"):
        Policy((), (a,), (PolicyGroup("g", "any", ("b",)),), "g")
    with pytest.raises(ValueError, match="defined twice"):
        Policy((), (a, PolicyWitness("a", _X2)), (), "a")
    with pytest.raises(ValueError, match="type 0x04"):
        PolicyWitness("a", LOG_VKEY)
    with pytest.raises(ValueError, match=r"outside 1\.\.1"):
        PolicyGroup("g", 2, ("a",))
    with pytest.raises(ValueError, match="one policy field"):
        PolicyWitness("a b", _X1)
    with pytest.raises(ValueError, match="one policy field"):
        PolicyLog(LOG_VKEY, "https://x y")


# --- the quorum ------------------------------------------------------------------------------


def _keys(*names: str) -> set[str]:
    return {KEY_NAME[n] for n in names}


QUORUM_TABLE: dict[str, tuple[set[str], bool]] = {
    "nobody": (set(), False),
    "two X and one Y": (_keys("X1", "X2", "Y1"), True),
    "all six": (_keys(*KEY_NAME), True),
    "two X and no Y": (_keys("X1", "X3"), False),
    "one X and all Y": (_keys("X2", "Y1", "Y2", "Y3"), False),
    "three X and one Y": (_keys("X1", "X2", "X3", "Y3"), True),
    "unknown keys do not count": ({"witness.example/zz", KEY_NAME["X1"], KEY_NAME["Y1"]}, False),
    "local names do not count": ({"X1", "X2", "Y1"}, False),
    "group names do not count": ({"X-witnesses", "Y-witnesses", "X-and-Y"}, False),
}


@pytest.mark.parametrize("case", QUORUM_TABLE)
def test_nested_group_quorum(case: str) -> None:
    cosigners, expected = QUORUM_TABLE[case]
    policy = parse_policy(EXAMPLE)
    assert policy.quorum_satisfied(cosigners) is expected
    if expected:
        policy.check_quorum(cosigners)
    else:
        with pytest.raises(VerificationError) as info:
            policy.check_quorum(cosigners)
        assert info.value.reason == LogReason.QUORUM_NOT_MET


def test_quorum_counts_key_names_not_local_names() -> None:
    # Local name "X1" is the key name of another witness: only the key name decides.
    text = (
        f"witness witness.example/y1 {VKEY['X1']}\n"
        f"witness witness.example/x1 {VKEY['Y1']}\n"
        "quorum witness.example/y1\n"
    )
    policy = parse_policy(text)
    assert policy.quorum_satisfied({KEY_NAME["X1"]})  # the key named .../x1
    assert not policy.quorum_satisfied({KEY_NAME["Y1"]})  # the local name .../y1


def test_quorum_accepts_any_collection_of_key_names() -> None:
    policy = parse_policy(EXAMPLE)
    cosigners = {KEY_NAME["X1"]: 1, KEY_NAME["X2"]: 2, KEY_NAME["Y2"]: 3}
    assert policy.quorum_satisfied(cosigners.keys())
    assert policy.quorum_satisfied(frozenset(cosigners))
    assert policy.quorum_satisfied(list(cosigners))


def test_unmet_quorum_message_names_groups_and_missing_witnesses() -> None:
    with pytest.raises(VerificationError) as info:
        parse_policy(EXAMPLE).check_quorum(_keys("X1", "Y1") | {"witness.example/zz"})
    message = info.value.message
    assert "X-witnesses (1 of 2 needed)" in message
    assert "X-and-Y (1 of 2 needed)" in message
    assert "Y-witnesses" not in message  # met
    assert "X2 (key witness.example/x2)" in message
    assert "X3 (key witness.example/x3)" in message
    assert "Y2" not in message  # its group is met: not what is missing
    assert "witness.example/zz" in message


def test_single_witness_quorum() -> None:
    policy = parse_policy(f"witness a {_X1}\nwitness b {_X2}\nquorum b\n")
    assert policy.quorum_satisfied(_keys("X2"))
    assert not policy.quorum_satisfied(_keys("X1"))
    with pytest.raises(VerificationError, match=r"b \(key witness\.example/x2\)"):
        policy.check_quorum(_keys("X1"))


# --- checkpoints under a policy ----------------------------------------------------------------

ROOT = hashlib.sha256(b"root").digest()


def signed_checkpoint(
    log: note.Ed25519Signer = LOG,
    witnesses: Iterable[CosignatureV1Signer] = (),
    origin: str | None = None,
) -> bytes:
    text = Checkpoint(origin or log.name, 7, ROOT).body()
    signed = note.sign(text, log)
    lines = [
        note.Signature(w.name, w.key_hash, w.sign_at(text.encode(), 1_700_000_000)).to_line()
        for w in witnesses
    ]
    return (signed + "".join(lines)).encode()


def test_checkpoint_meeting_the_quorum_verifies() -> None:
    policy = parse_policy(EXAMPLE)
    verified = policy.verify_checkpoint(signed_checkpoint(witnesses=[W["X1"], W["X3"], W["Y2"]]))
    assert verified.checkpoint.size == 7
    assert set(verified.cosignatures) == _keys("X1", "X3", "Y2")


def test_checkpoint_without_the_quorum_is_rejected() -> None:
    with pytest.raises(VerificationError) as info:
        parse_policy(EXAMPLE).verify_checkpoint(signed_checkpoint(witnesses=[W["X1"], W["Y2"]]))
    assert info.value.reason == LogReason.QUORUM_NOT_MET


def test_checkpoint_of_an_unlisted_log_is_wrong_origin() -> None:
    other = log_signer("log.example/b")
    with pytest.raises(VerificationError) as info:
        parse_policy(EXAMPLE).verify_checkpoint(signed_checkpoint(other, W.values()))
    assert info.value.reason == LogReason.WRONG_ORIGIN


def test_checkpoint_signed_by_another_key_of_the_log_name_is_untrusted() -> None:
    impostor = log_signer(LOG.name, "impostor")
    with pytest.raises(VerificationError) as info:
        parse_policy(EXAMPLE).verify_checkpoint(signed_checkpoint(impostor, W.values()))
    assert info.value.reason == LogReason.UNTRUSTED_NOTE


def test_two_logs_of_one_name_the_signing_one_is_used() -> None:
    second = log_signer(LOG.name, "second key")
    policy = parse_policy(f"log {LOG_VKEY}\nlog {second.verifier().verifier_key}\nquorum none\n")
    assert policy.verify_checkpoint(signed_checkpoint(second)).log_signature.name == LOG.name
    assert policy.verify_checkpoint(signed_checkpoint(LOG)).checkpoint.origin == LOG.name


def test_bad_cosignature_by_a_policy_witness_rejects_the_checkpoint() -> None:
    good = signed_checkpoint(witnesses=[W["X1"], W["X2"], W["Y1"]]).decode()
    name = KEY_NAME["X2"]
    lines = good.split("\n")
    for i, line in enumerate(lines):
        if line.startswith(f"\u2014 {name} "):
            body = line.rsplit(" ", 1)[1]
            lines[i] = (
                line[: -len(body)] + body[:-6] + ("AAAA==" if body[-6:] != "AAAA==" else "AQAA==")
            )
    with pytest.raises(VerificationError) as info:
        parse_policy(EXAMPLE).verify_checkpoint("\n".join(lines).encode())
    assert info.value.reason == LogReason.BAD_NOTE_SIGNATURE
