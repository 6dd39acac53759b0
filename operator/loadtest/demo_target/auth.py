"""Password hashing and JWT tokens for the demo target.

The password hash is real (salted PBKDF2-SHA256) but deliberately cheap: a
login-heavy scenario must measure the server, not burn its CPU on key
stretching. Tokens are HS256 JWTs with `sub` = username and a one-hour `exp`
(api.md); every server process shares the secret through the run's config.
"""

from __future__ import annotations

import hashlib
import hmac
import time

import jwt

PBKDF2_ITERATIONS = 1_000  # ~0.3 ms per login on this machine: real hashing, never the bottleneck
TOKEN_TTL_S = 3600  # api.md: `exp` is one hour, `expires_in` 3600
JWT_ALGORITHM = "HS256"


class TokenError(Exception):
    """The bearer token is missing, malformed, expired or not signed by us. Maps to 401."""


def hash_password(password: str, *, salt: bytes, iterations: int = PBKDF2_ITERATIONS) -> str:
    """Encode as `pbkdf2_sha256$<iterations>$<salt hex>$<hash hex>` (iterations kept per row)."""
    derived = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return f"pbkdf2_sha256${iterations}${salt.hex()}${derived.hex()}"


def verify_password(password: str, encoded: str) -> bool:
    """Constant-time check of `password` against a `hash_password` string; False if malformed."""
    try:
        scheme, iterations, salt_hex, hash_hex = encoded.split("$")
        if scheme != "pbkdf2_sha256":
            return False
        derived = hashlib.pbkdf2_hmac("sha256", password.encode(), bytes.fromhex(salt_hex), int(iterations))
    except ValueError:
        return False
    return hmac.compare_digest(derived.hex(), hash_hex)


def issue_token(username: str, secret: str, *, now: float | None = None, ttl_s: int = TOKEN_TTL_S) -> str:
    """A signed HS256 JWT for `username`, valid for `ttl_s` seconds from `now`."""
    issued = int(time.time() if now is None else now)
    claims = {"sub": username, "iat": issued, "exp": issued + ttl_s}
    return jwt.encode(claims, secret, algorithm=JWT_ALGORITHM)


def bearer_token(authorization: str | None) -> str:
    """Extract the token from an `Authorization: Bearer <token>` header value."""
    if not authorization:
        raise TokenError("missing Authorization header: send 'Authorization: Bearer <token>' from login")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise TokenError("Authorization header must be 'Bearer <token>'")
    return token.strip()


def verify_token(token: str, secret: str) -> str:
    """Return the token's username (`sub`) if its signature and expiry are valid."""
    try:
        claims = jwt.decode(token, secret, algorithms=[JWT_ALGORITHM], options={"require": ["exp", "sub"]})
    except jwt.ExpiredSignatureError as exc:
        raise TokenError("token expired: log in again") from exc
    except jwt.InvalidTokenError as exc:
        raise TokenError(f"invalid token: {exc}") from exc
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise TokenError("invalid token: 'sub' must be a username")
    return subject
