"""Passwords and JWTs: what is accepted and what is refused."""

from __future__ import annotations

import time

import jwt
import pytest

from loadtest.demo_target.auth import (
    TokenError,
    bearer_token,
    hash_password,
    issue_token,
    verify_password,
    verify_token,
)

SECRET = "s" * 64


def test_the_right_password_verifies_and_a_wrong_one_does_not() -> None:
    encoded = hash_password("demo-password", salt=b"0123456789abcdef")
    assert encoded.startswith("pbkdf2_sha256$1000$30313233")
    assert verify_password("demo-password", encoded) is True
    assert verify_password("demo-passwore", encoded) is False


def test_salts_make_equal_passwords_hash_differently() -> None:
    assert hash_password("x", salt=b"a" * 16) != hash_password("x", salt=b"b" * 16)


@pytest.mark.parametrize("encoded", ["", "md5$1$00$00", "pbkdf2_sha256$many$00$00", "pbkdf2_sha256$1$zz$00"])
def test_a_malformed_hash_never_verifies(encoded: str) -> None:
    assert verify_password("demo-password", encoded) is False


def test_a_token_round_trips_to_its_username() -> None:
    token = issue_token("user0042", SECRET)
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert verify_token(token, SECRET) == "user0042"
    assert claims["exp"] - claims["iat"] == 3600


def test_an_expired_token_is_refused() -> None:
    token = issue_token("user0042", SECRET, now=time.time() - 7200)
    with pytest.raises(TokenError, match="expired"):
        verify_token(token, SECRET)


def test_a_token_signed_with_another_secret_is_refused() -> None:
    token = issue_token("user0042", "t" * 64)
    with pytest.raises(TokenError, match="invalid token"):
        verify_token(token, SECRET)


def test_a_token_without_subject_is_refused() -> None:
    token = jwt.encode({"exp": int(time.time()) + 60}, SECRET, algorithm="HS256")
    with pytest.raises(TokenError, match="sub"):
        verify_token(token, SECRET)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "missing Authorization"),
        ("", "missing Authorization"),
        ("Basic abc", "Bearer"),
        ("Bearer ", "Bearer"),
    ],
)
def test_a_bad_authorization_header_is_refused(header: str | None, message: str) -> None:
    with pytest.raises(TokenError, match=message):
        bearer_token(header)


def test_the_bearer_scheme_is_case_insensitive() -> None:
    assert bearer_token("bearer abc.def.ghi") == "abc.def.ghi"
