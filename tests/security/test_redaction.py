"""Redactor: masks values in text, JSON, chunked streams and log records."""

from __future__ import annotations

import json
import logging
import random
import re
import threading

import pytest

from agency.errors import NotFound
from agency.security.keystore import EnvKeystore
from agency.security.redaction import MASK, RedactingFilter, Redactor, install_log_redaction
from agency.security.secrets import SECRET_REF, referenced_secrets, resolve_env

SECRET = "tok-9f8e7d6c5b4a"


def test_masks_every_occurrence_and_keeps_the_rest() -> None:
    r = Redactor()
    r.add(SECRET, "pw-short-1")
    out = r.redact(f"a {SECRET} b {SECRET}{SECRET} c pw-short-1.")
    assert out == f"a {MASK} b {MASK}{MASK} c {MASK}."
    assert r.redact("nothing here") == "nothing here"


def test_longest_value_wins_and_short_values_are_ignored() -> None:
    r = Redactor()
    r.add("abcd", "abcdefgh", "xy", "")
    assert r.redact("abcdefgh abcd xy") == f"{MASK} {MASK} xy"
    assert len(r) == 2


def test_regex_characters_are_literal() -> None:
    r = Redactor()
    r.add("a.b*c(d)+[e]")
    assert r.redact("a.b*c(d)+[e] axbbc") == f"{MASK} axbbc"


def test_json_escaped_and_multiline_forms() -> None:
    value = 'pa"ss\\word\nsecond-line-123'
    r = Redactor()
    r.add(value)
    body = json.dumps({"out": value})
    assert "pa" not in r.redact(body).replace("out", "")
    assert r.redact("log: second-line-123") == f"log: {MASK}"


def test_redact_obj() -> None:
    r = Redactor()
    r.add(SECRET)
    assert r.redact_obj({"a": [SECRET, 1, {"b": f"x{SECRET}"}]}) == {
        "a": [MASK, 1, {"b": f"x{MASK}"}]
    }


@pytest.mark.parametrize("seed", range(20))
def test_stream_masks_values_split_across_chunks(seed: int) -> None:
    rng = random.Random(seed)
    r = Redactor()
    r.add(SECRET, SECRET[:6], "zz-other-secret")
    text = "".join(
        rng.choice(["hello ", SECRET, SECRET[:6], "zz-other-secret", "\n", "tok-9f"])
        for _ in range(60)
    )
    cuts = sorted(rng.sample(range(1, len(text)), 15))
    chunks = [text[i:j] for i, j in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    s = r.stream()
    out = "".join(s.feed(c) for c in chunks) + s.flush()
    assert out == r.redact(text)
    assert SECRET not in out and "zz-other-secret" not in out


def test_stream_without_values_passes_through() -> None:
    s = Redactor().stream()
    assert s.feed("abc") == "abc" and s.flush() == ""


def test_filter_masks_message_args_and_exception(caplog: pytest.LogCaptureFixture) -> None:
    r = Redactor()
    r.add(SECRET)
    logger = logging.getLogger("test.redaction.filter")
    handler = caplog.handler
    handler.addFilter(RedactingFilter(r))
    try:
        logger.warning("token %s in %r", SECRET, {"k": SECRET})
        logger.warning(f"inline {SECRET}")
        try:
            raise ValueError(f"bad {SECRET}")
        except ValueError:
            logger.exception("failed")
    finally:
        handler.removeFilter(handler.filters[-1])
    assert SECRET not in caplog.text
    assert caplog.text.count(MASK) >= 4


def test_install_log_redaction_covers_any_logger(caplog: pytest.LogCaptureFixture) -> None:
    install_log_redaction()
    install_log_redaction()  # idempotent
    resolve_env({"K": "${secret:LOGGED}"}, EnvKeystore({"AGENCY_SECRET_LOGGED": "logged-value-77"}))
    logging.getLogger("some.other.module").error("leak %s", "logged-value-77")
    assert "logged-value-77" not in caplog.text and f"leak {MASK}" in caplog.text


def test_concurrent_add_and_redact() -> None:
    r = Redactor()
    values = [f"value-{i:04d}-xyz" for i in range(200)]
    errors: list[str] = []

    def adder() -> None:
        for v in values:
            r.add(v)

    def reader() -> None:
        for _ in range(300):
            known = "value-0000-xyz" in r  # checked first: once added, always masked
            out = r.redact(" ".join(values[:5]))
            if known and "value-0000-xyz" in out:
                errors.append(out)

    threads = [threading.Thread(target=adder), *(threading.Thread(target=reader) for _ in range(3))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors
    assert r.redact(values[-1]) == MASK


def test_resolve_env_and_references() -> None:
    ks = EnvKeystore({"AGENCY_SECRET_TOKEN": "abc-123-456", "AGENCY_SECRET_USER": "svc-user"})
    r = Redactor()
    env = {
        "AUTH": "Bearer ${secret:TOKEN}",
        "BOTH": "${secret:USER}:${secret:TOKEN}",
        "PLAIN": "$HOME",
    }
    resolved, values = resolve_env(env, ks, redactor=r)
    assert resolved == {
        "AUTH": "Bearer abc-123-456",
        "BOTH": "svc-user:abc-123-456",
        "PLAIN": "$HOME",
    }
    assert sorted(values) == ["abc-123-456", "svc-user"]
    assert r.redact(resolved["BOTH"]) == f"{MASK}:{MASK}"
    assert referenced_secrets(env) == ["TOKEN", "USER"]
    assert SECRET_REF.fullmatch("${secret:A_1}")
    with pytest.raises(NotFound):
        resolve_env({"X": "${secret:MISSING}"}, ks, redactor=r)


@pytest.mark.parametrize("seed", range(10))
def test_trie_matches_longest_first_alternation(seed: int) -> None:
    rng = random.Random(seed)
    alphabet = "abc.*"
    values = {"".join(rng.choice(alphabet) for _ in range(rng.randint(4, 9))) for _ in range(30)}
    values |= {v[:5] for v in list(values)[:10] if len(v) > 5}  # values that prefix others
    r = Redactor()
    r.add(*values)
    naive = re.compile("|".join(re.escape(v) for v in sorted(values, key=lambda v: (-len(v), v))))
    for _ in range(20):
        text = "".join(rng.choice(alphabet + " ") for _ in range(300))
        assert r.redact(text) == naive.sub(MASK, text)


def test_very_long_value() -> None:
    pem = (
        "-----BEGIN KEY-----\n"
        + "\n".join("A" * 64 + str(i) for i in range(80))
        + "\n-----END KEY-----"
    )
    r = Redactor()
    r.add(pem)
    assert r.redact(f"key: {pem}!") == f"key: {MASK}!"
    assert "A" * 64 not in r.redact("line " + "A" * 64 + "17")
