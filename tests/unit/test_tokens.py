"""Bearer tokens (issue #13): a remembered signature check never outlives the token's expiry,
and a tampered token or one signed with another secret is never accepted."""

from __future__ import annotations

import time

import pytest

from ecrf.accounts.model import User
from ecrf.accounts.service import Tokens
from ecrf.errors import Unauthenticated

USER = User("ttl.staff", "site_staff", ("SITE-01",), "Ttl Staff")
TTL = 600
START = 1_900_000_000.0


@pytest.fixture
def clock(monkeypatch) -> list[float]:
    """The one clock both Tokens and itsdangerous read (time.time); move it by changing [0]."""
    now = [START]
    monkeypatch.setattr(time, "time", lambda: now[0])
    return now


def refused_with(tokens: Tokens, token: str) -> str:
    with pytest.raises(Unauthenticated) as refused:
        tokens.claims(token)
    return refused.value.code


def test_a_token_is_accepted_within_its_ttl_and_names_its_user(clock):
    tokens = Tokens("secret-one", TTL)
    token = tokens.issue(USER, "tid-1")
    assert tokens.claims(token) == ("ttl.staff", "tid-1")
    clock[0] += TTL - 5
    assert tokens.claims(token) == ("ttl.staff", "tid-1")


def test_a_token_first_used_after_its_ttl_is_refused(clock):
    tokens = Tokens("secret-one", TTL)
    token = tokens.issue(USER, "tid-1")
    clock[0] += TTL + 5
    assert refused_with(tokens, token) == "token_expired"


def test_a_remembered_token_is_refused_once_its_ttl_passed(clock):
    tokens = Tokens("secret-one", TTL)
    token = tokens.issue(USER, "tid-1")
    assert tokens.claims(token) == ("ttl.staff", "tid-1")  # the signature check is remembered
    clock[0] += TTL + 5
    assert refused_with(tokens, token) == "token_expired"
    assert refused_with(tokens, token) == "token_expired"  # and stays refused


def test_a_token_remembered_by_another_server_instance_expires_the_same(clock):
    first, second = Tokens("secret-one", TTL), Tokens("secret-one", TTL)
    token = first.issue(USER, "tid-1")
    assert first.claims(token) == second.claims(token)
    clock[0] += TTL + 5
    assert refused_with(first, token) == refused_with(second, token) == "token_expired"


@pytest.mark.parametrize("where", ["payload", "timestamp", "signature"])
def test_a_tampered_token_is_refused_even_after_the_real_one_was_remembered(clock, where):
    tokens = Tokens("secret-one", TTL)
    token = tokens.issue(USER, "tid-1")
    assert tokens.claims(token)
    payload, stamp, signature = token.split(".")
    flip = {"A": "B", "B": "A"}
    if where == "payload":
        changed = Tokens("secret-one", TTL)._serializer().dump_payload(
            {"u": "dm", "t": "tid-1"}).decode()
        tampered = f"{changed}.{stamp}.{signature}"
    elif where == "timestamp":
        tampered = f"{payload}.{stamp[:-1]}{flip.get(stamp[-1], 'A')}.{signature}"
    else:
        tampered = f"{payload}.{stamp}.{signature[:-2]}{flip.get(signature[-2], 'A')}" \
                   f"{signature[-1]}"
    assert tampered != token
    assert refused_with(tokens, tampered) == "invalid_token"
    assert tokens.claims(token) == ("ttl.staff", "tid-1")


def test_a_token_of_another_secret_is_refused(clock):
    ours, theirs = Tokens("secret-one", TTL), Tokens("secret-two", TTL)
    token = theirs.issue(USER, "tid-1")
    assert theirs.claims(token) == ("ttl.staff", "tid-1")
    assert refused_with(ours, token) == "invalid_token"
    assert refused_with(ours, "not-a-token") == "invalid_token"
