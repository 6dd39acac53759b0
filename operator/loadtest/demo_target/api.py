"""The `/api/*` endpoints of the demo target (the contract is /work/briefs/api.md).

Handlers are `async` and call SQLite directly: each statement is short and
indexed, cheaper than a hop to a thread pool. Every error is a JSON
`{"detail": ...}` that names the field, the value and the fix.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from loadtest.demo_target.auth import (
    TOKEN_TTL_S,
    TokenError,
    bearer_token,
    issue_token,
    verify_password,
    verify_token,
)
from loadtest.demo_target.queries import ProductFilter, Row, Store

MAX_PAGE_SIZE = 100  # api.md: page_size 1..100
MAX_PAGE = 1_000_000  # beyond any real page; keeps OFFSET arithmetic sane
MAX_QUANTITY = 10  # api.md: quantity 1..10
MIN_QUERY = 2  # api.md: q length >= 2
MAX_PRICE = 1_000_000.0

Handler = Callable[[Request], Awaitable[Response]]

# (method, template, handler name): the route keys of counters and faults are "METHOD template".
ROUTES: tuple[tuple[str, str, str], ...] = (
    ("POST", "/api/auth/login", "login"),
    ("GET", "/api/me", "me"),
    ("GET", "/api/products", "list_products"),
    ("GET", "/api/products/search", "search_products"),
    ("GET", "/api/products/{id}", "get_product"),
    ("GET", "/api/categories", "categories"),
    ("GET", "/api/stats/summary", "summary"),
    ("GET", "/api/dashboard", "dashboard"),
    ("GET", "/api/orders", "list_orders"),
    ("POST", "/api/orders", "create_order"),
    ("GET", "/api/orders/{id}", "get_order"),
)
ROUTE_KEYS: tuple[str, ...] = tuple(f"{method} {template}" for method, template, _ in ROUTES)


def unprocessable(detail: str) -> HTTPException:
    return HTTPException(status_code=422, detail=detail)


def int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":  # `?page=&page_size=` means "the defaults"
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise unprocessable(f"{name}: {raw!r} is invalid; use a whole number from {low} to {high}")
    return value


def price_param(request: Request, name: str) -> float | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= MAX_PRICE:
        raise unprocessable(f"{name}: {raw!r} is invalid; use a price from 0 to {MAX_PRICE:.0f}")
    return value


def bool_param(request: Request, name: str) -> bool | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    lowered = raw.lower()
    if lowered in {"true", "1", "yes"}:
        return True
    if lowered in {"false", "0", "no"}:
        return False
    raise unprocessable(f"{name}: {raw!r} is invalid; use true or false")


async def json_object(request: Request, example: str) -> dict[str, Any]:
    try:
        body = json.loads(await request.body())
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise unprocessable(f"body: not a JSON object; send {example}")
    return body


def body_int(body: dict[str, Any], name: str, low: int, high: int) -> int:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise unprocessable(f"{name}: {value!r} is invalid; use a whole number from {low} to {high}")
    return value


def path_id(request: Request, what: str) -> int:
    """The `{id}` path segment; anything that is not a positive integer is simply not found."""
    raw = str(request.path_params["id"])
    if not raw.isdigit() or int(raw) < 1:
        raise HTTPException(status_code=404, detail=f"{what} {raw!r} not found")
    return int(raw)


class Api:
    """The endpoint handlers, bound to one process's store and JWT secret."""

    def __init__(self, store: Callable[[], Store], secret: str) -> None:
        self._store = store  # resolved per request: the store is opened in the lifespan
        self._secret = secret

    def handlers(self) -> dict[str, Handler]:
        return {name: getattr(self, name) for _, _, name in ROUTES}

    def _user(self, request: Request) -> Row:
        try:
            username = verify_token(bearer_token(request.headers.get("authorization")), self._secret)
        except TokenError as exc:
            raise HTTPException(status_code=401, detail=str(exc), headers={"WWW-Authenticate": "Bearer"}) from exc
        user = self._store().user(username)
        if user is None:
            raise HTTPException(
                status_code=401,
                detail=f"token user {username!r} does not exist",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return user

    async def login(self, request: Request) -> Response:
        body = await json_object(request, '{"username": "user0001", "password": "demo-password"}')
        username, password = body.get("username"), body.get("password")
        for name, value in (("username", username), ("password", password)):
            if not isinstance(value, str) or not value:
                raise unprocessable(f"{name}: {value!r} is invalid; send a non-empty string")
        assert isinstance(username, str) and isinstance(password, str)
        user = self._store().user(username)
        if user is None or not verify_password(password, str(user["password_hash"])):
            raise HTTPException(status_code=401, detail="invalid username or password")
        token = issue_token(username, self._secret)
        return JSONResponse({"access_token": token, "token_type": "bearer", "expires_in": TOKEN_TTL_S})

    async def me(self, request: Request) -> Response:
        user = self._user(request)
        return JSONResponse({"username": user["username"], "id": user["id"], "created_at": user["created_at"]})

    async def list_products(self, request: Request) -> Response:
        self._user(request)
        page = int_param(request, "page", 1, 1, MAX_PAGE)
        page_size = int_param(request, "page_size", 20, 1, MAX_PAGE_SIZE)
        category = request.query_params.get("category") or None
        flt = ProductFilter(category, price_param(request, "min_price"), price_param(request, "max_price"),
                            bool_param(request, "in_stock"))  # fmt: skip
        return JSONResponse(self._store().products(page, page_size, flt).to_json())

    async def search_products(self, request: Request) -> Response:
        self._user(request)
        query = request.query_params.get("q", "").strip()
        if len(query) < MIN_QUERY:
            raise unprocessable(f"q: {query!r} is too short; send at least {MIN_QUERY} characters")
        limit = int_param(request, "limit", 20, 1, MAX_PAGE_SIZE)
        items, total = self._store().search(query, limit)
        return JSONResponse({"query": query, "items": items, "total": total})

    async def get_product(self, request: Request) -> Response:
        self._user(request)
        product_id = path_id(request, "product")
        product = self._store().product(product_id)
        if product is None:
            raise HTTPException(status_code=404, detail=f"product {product_id} not found")
        return JSONResponse(product)

    async def categories(self, request: Request) -> Response:
        self._user(request)
        return JSONResponse({"items": self._store().categories()})

    async def summary(self, request: Request) -> Response:
        self._user(request)
        return JSONResponse(self._store().summary())

    async def dashboard(self, request: Request) -> Response:
        user = self._user(request)
        return JSONResponse(self._store().dashboard(user))

    async def list_orders(self, request: Request) -> Response:
        user = self._user(request)
        page = int_param(request, "page", 1, 1, MAX_PAGE)
        page_size = int_param(request, "page_size", 20, 1, MAX_PAGE_SIZE)
        return JSONResponse(self._store().orders(int(user["id"]), page, page_size).to_json())

    async def create_order(self, request: Request) -> Response:
        user = self._user(request)
        body = await json_object(request, '{"product_id": 42, "quantity": 1}')
        product_id = body_int(body, "product_id", 1, 2**62)
        quantity = body_int(body, "quantity", 1, MAX_QUANTITY)
        order = self._store().create_order(int(user["id"]), product_id, quantity)
        if order is None:
            raise HTTPException(status_code=404, detail=f"product {product_id} not found")
        return JSONResponse(order, status_code=201)

    async def get_order(self, request: Request) -> Response:
        user = self._user(request)
        order_id = path_id(request, "order")
        order = self._store().order(int(user["id"]), order_id)
        if order is None:
            raise HTTPException(status_code=404, detail=f"order {order_id} not found")
        return JSONResponse(order)
