"""Accounts against a hostile client: one failure counter, lockout that revokes tokens, no
user enumeration, unknown names kept only as a keyed hash, throttling, least exposure."""

from __future__ import annotations

import json

import pytest
from argon2 import PasswordHasher, profiles

from ecrf.accounts import service
from ecrf.accounts.lockout import username_digest
from ecrf.accounts.service import create_user, deactivate_user, reset_password
from ecrf.app import create_app
from ecrf.errors import Invalid
from tests.api.conftest import PASSWORD

SECRET = "test-secret"


def login(client, username: str, password: str = PASSWORD, **kw):
    return client.post("/api/v1/auth/token", json={"username": username, "password": password},
                       **kw)


def events_of(store, stream_id: str) -> list[str]:
    return [e.type for e in store.read_stream(stream_id)]


# --- 1. one counter of failed password checks; a lock revokes every token -------------------


def test_wrong_current_passwords_count_lock_the_account_and_revoke_its_tokens(
        app, as_user, store):
    staff, other = as_user("staff"), as_user("staff")
    for _ in range(5):
        reply = staff.post("/auth/password", {"current_password": "wrong-wrong",
                                              "new_password": "another-pass-1"})
        assert reply.status_code == 403
    kinds = events_of(store, "user:staff")
    assert kinds.count("LoginFailed") == 5 and kinds[-1] == "AccountLocked"
    failures = [e for e in store.read_stream("user:staff") if e.type == "LoginFailed"]
    assert {e.data["purpose"] for e in failures} == {"password_change"}
    for token_holder in (staff, other):
        reply = token_holder.get("/subjects")
        assert reply.status_code == 401
    assert login(app.test_client(), "staff").status_code == 401


def test_login_password_change_and_signature_failures_share_one_counter(app, as_user, subject,
                                                                        store):
    investigator = as_user("investigator")
    client = app.test_client()
    for _ in range(2):
        assert login(client, "investigator", "not-it-at-all").status_code == 401
    for _ in range(2):
        assert investigator.post("/auth/password", {"current_password": "nope-nope-1",
                                                    "new_password": "whatever-12"}
                                 ).status_code == 403
    reply = investigator.post(f"/subjects/{subject}/signatures",
                              {"password": "wrong-one", "meaning": "review"})
    assert reply.status_code == 403
    assert events_of(store, "user:investigator")[-1] == "AccountLocked"
    assert investigator.get("/subjects").status_code == 401
    assert investigator.post(f"/subjects/{subject}/signatures",
                             {"password": PASSWORD, "meaning": "review"}).status_code == 401


def test_a_locked_account_cannot_keep_writing_with_its_old_token(app, staff, store):
    client = app.test_client()
    for _ in range(5):
        login(client, "staff", "guessed-wrong")
    before = store.count()
    reply = staff.post("/subjects", {"subject_id": "ITP-009", "site_id": "SITE-01", "sex": "F",
                                     "birth_date": "1980-04-02", "consent_date": "2026-01-05",
                                     "screening_date": "2026-01-06"})
    assert reply.status_code == 401
    assert store.count() == before


def test_a_deactivated_accounts_tokens_answer_401(app, staff, store):
    assert staff.get("/subjects").status_code == 200
    deactivate_user(store, "staff", "left the site")
    assert staff.get("/subjects").status_code == 401


def test_a_password_change_revokes_the_other_tokens_but_not_the_one_used(app, as_user):
    used, elsewhere = as_user("monitor"), as_user("monitor")
    reply = used.post("/auth/password", {"current_password": PASSWORD,
                                         "new_password": "brand-new-pass-1"})
    assert reply.status_code == 204
    assert used.get("/subjects").status_code == 200
    assert elsewhere.get("/subjects").status_code == 401
    assert elsewhere.get("/subjects").json["error"]["code"] == "token_revoked"
    client = app.test_client()
    assert login(client, "monitor").status_code == 401
    assert login(client, "monitor", "brand-new-pass-1").status_code == 200


def test_an_administrators_password_reset_revokes_every_token(app, as_user, store):
    first, second = as_user("auditor"), as_user("auditor")
    reset_password(store, "auditor", "reset-by-admin-1")
    assert first.get("/subjects").status_code == 401
    assert second.get("/subjects").status_code == 401
    assert login(app.test_client(), "auditor", "reset-by-admin-1").status_code == 200


def test_a_token_that_was_never_issued_by_a_login_is_refused(app):
    from ecrf.accounts.service import load_user

    tokens = app.extensions["ecrf"].tokens
    user = load_user(app.extensions["ecrf"].store, "dm")
    forged = tokens.issue(user, "made-up-token-id")  # signed, but no LoginSucceeded names it
    reply = app.test_client().get("/api/v1/subjects", headers={
        "Authorization": f"Bearer {forged}"})
    assert reply.status_code == 401


# --- 2. no user enumeration ----------------------------------------------------------------


def test_every_refused_login_answers_the_same_401(app, store):
    client = app.test_client()
    for _ in range(5):
        login(client, "monitor", "wrong-password")  # monitor is now locked
    deactivate_user(store, "staff2", "left")
    answers = {
        "unknown user": login(client, "nobody.here"),
        "wrong password": login(client, "staff", "wrong-password"),
        "locked, right password": login(client, "monitor"),
        "deactivated, right password": login(client, "staff2"),
    }
    bodies = {name: (r.status_code, json.dumps(r.json, sort_keys=True))
              for name, r in answers.items()}
    assert len(set(bodies.values())) == 1, bodies
    assert next(iter(bodies.values()))[0] == 401


class CountingHasher(PasswordHasher):
    """argon2's cheapest profile, counting the password checks it does."""

    checks = 0

    def verify(self, hash, password):
        CountingHasher.checks += 1
        return super().verify(hash, password)


@pytest.fixture
def counting_hasher():
    hasher = CountingHasher.from_parameters(profiles.CHEAPEST)
    service.use_password_hasher(hasher)
    CountingHasher.checks = 0
    yield CountingHasher
    service.use_password_hasher(PasswordHasher.from_parameters(profiles.CHEAPEST))


def test_an_unknown_user_costs_the_same_argon2_check_as_a_known_one(app, counting_hasher):
    client = app.test_client()
    create_user(app.extensions["ecrf"].store, "known", "a-password-1", "monitor", ["SITE-01"])
    for username in ("known", "unknown.name", "known"):
        counting_hasher.checks = 0
        assert login(client, username, "not-the-password").status_code == 401
        assert counting_hasher.checks == 1, username
    for _ in range(5):
        login(client, "known", "not-the-password")
    counting_hasher.checks = 0
    assert login(client, "known", "a-password-1").status_code == 401  # locked
    assert counting_hasher.checks == 1


def test_an_unknown_name_locks_like_a_known_one_and_a_lock_stops_the_recording(app, store):
    client = app.test_client()
    for username in ("dm", "no.such.user"):
        for _ in range(7):
            assert login(client, username, "wrong-guess-1").status_code == 401
    digest = username_digest(SECRET, "no.such.user")
    known, unknown = events_of(store, "user:dm"), events_of(store, f"unknown-user:{digest}")
    assert [k for k in known if k in ("LoginFailed", "AccountLocked")] == unknown
    assert unknown == ["LoginFailed"] * 5 + ["AccountLocked"]


# --- 3. unknown names only as a keyed hash; throttling --------------------------------------


def test_an_unknown_username_is_recorded_only_as_an_hmac(app, store, as_user):
    typed = "my.secret.password"  # a password typed into the username field
    client = app.test_client()
    for _ in range(3):
        login(client, typed, "whatever-1")
    everything = json.dumps([(e.stream_id, e.data, e.metadata) for e in store.iter_all()])
    assert typed not in everything
    digest = username_digest(SECRET, typed)
    assert len(digest) == 64 and digest != username_digest("another-secret", typed)
    events = as_user("auditor").get("/security/events").json["events"]
    tried = [e for e in events if e["data"].get("username_hmac") == digest]
    assert [e["type"] for e in tried] == ["LoginFailed"] * 3  # the same name, tried 3 times
    assert typed not in json.dumps(events)


def test_twenty_failed_logins_a_minute_from_one_address_then_429_with_retry_after(app, store):
    client = app.test_client()
    for _ in range(20):
        assert login(client, "x.y", "wrong-guess-1").status_code == 401
    before = store.count()
    reply = login(client, "x.y", "wrong-guess-1")
    assert reply.status_code == 429
    assert reply.json["error"]["code"] == "too_many_requests"
    assert int(reply.headers["Retry-After"]) > 0
    assert store.count() == before
    assert login(client, "dm").status_code == 429  # the address waits, whatever it sends
    other = login(client, "dm", environ_base={"REMOTE_ADDR": "10.0.0.7"})
    assert other.status_code == 200


def test_successful_logins_are_never_throttled(app):
    client = app.test_client()
    for _ in range(30):
        assert login(client, "auditor").status_code == 200


def test_wrong_current_passwords_are_throttled_too(app, as_user):
    staff = as_user("staff")
    codes = [staff.post("/auth/password", {"current_password": "wrong-wrong",
                                           "new_password": "another-pass-1"}).status_code
             for _ in range(21)]
    assert codes[:5] == [403] * 5 and set(codes[5:20]) == {401}  # locked and revoked after 5
    assert codes[20] == 429


def test_forwarded_for_counts_only_behind_a_configured_proxy(engine):
    for proxies, separate in ((0, False), (1, True)):
        app = create_app({"ENGINE": engine, "SECRET_KEY": SECRET, "TESTING": True,
                          "DATABASE_URL": "unused", "TRUSTED_PROXIES": proxies})
        client = app.test_client()
        for n in range(21):
            reply = login(client, "nobody", "wrong-guess-1",
                          headers={"X-Forwarded-For": f"192.0.2.{n}"})
        assert (reply.status_code == 401) is separate, proxies


def test_the_throttle_can_be_switched_off_per_app(engine):
    app = create_app({"ENGINE": engine, "SECRET_KEY": SECRET, "TESTING": True,
                      "DATABASE_URL": "unused", "RATELIMIT_ENABLED": False})
    client = app.test_client()
    assert {login(client, "nobody", "wrong-1").status_code for _ in range(25)} == {401}


# --- 6. least exposure ----------------------------------------------------------------------


def test_a_site_limited_data_manager_sees_only_accounts_of_their_sites(app, store, as_user):
    create_user(store, "dm.site1", PASSWORD, "data_manager", ["SITE-01"])
    client = app.test_client()
    for username in ("staff", "staff2", "nobody.at.all"):
        login(client, username, "wrong-guess-1")
    site_dm = as_user("dm.site1").get("/security/events").json["events"]
    streams = {e["stream_id"] for e in site_dm}
    assert {"user:staff", "user:investigator", "user:monitor", "user:dm.site1"} <= streams
    assert not streams & {"user:staff2", "user:dm", "user:auditor"}
    assert not any(s.startswith("unknown-user:") for s in streams)
    everything = {e["stream_id"] for e in as_user("auditor").get("/security/events").json[
        "events"]}
    assert {"user:staff2", "user:dm"} <= everything
    assert any(s.startswith("unknown-user:") for s in everything)


@pytest.mark.parametrize(("username", "role"), [("system", "monitor"), ("robot", "system")])
def test_system_is_reserved_as_a_name_and_as_a_role(store, username, role):
    before = store.count()
    with pytest.raises(Invalid) as refused:
        create_user(store, username, PASSWORD, role, ["*"])
    assert set(refused.value.fields) == ({"username"} if username == "system" else {"role"})
    assert store.count() == before


def test_a_username_with_a_trailing_newline_or_nul_is_422_not_500(app, store):
    client = app.test_client()
    before = store.count()
    for username in ("dm\n", "dm\x00", "DM", "d m"):
        reply = login(client, username)
        assert reply.status_code in (400, 422), (username, reply.json)
    assert store.count() == before
    with pytest.raises(Invalid):
        create_user(store, "new.user\n", PASSWORD, "monitor", ["*"])

