"""One method per demo-target endpoint, each request named, authenticated and validated.

Scenarios compose these calls into tasks, so every scenario names the same
endpoint the same way (the SLA files, the stats artifact and the Prometheus
`name` label all key on it) and validates it the same way.

Request names are URL templates (`/api/products/{id}`), never concrete URLs:
ids, pages and terms would otherwise give every request its own stats row.
A call that sends a deliberately wrong request says so in brackets
(`/api/products/{id} [unknown]`) so its expected 404 is never mixed with the
real detail view's latencies.

`Api` works with any Locust client whose `request(method, path, name=...,
catch_response=True, headers=..., json=...)` returns a response context
manager: FastHttpUser's (what the scenarios use) and HttpUser's alike.
"""

from __future__ import annotations

from collections import deque
from contextlib import AbstractContextManager
from typing import Any, Protocol
from urllib.parse import quote

from lib.picking import DEMO_PASSWORD, SEARCH_LIMIT, Picker
from lib.validation import (
    CATEGORIES,
    DASHBOARD,
    ERROR,
    ME,
    ORDER,
    ORDER_PAGE,
    PRODUCT,
    PRODUCT_PAGE,
    SEARCH,
    SUMMARY,
    TOKEN,
    CatchResponse,
    Check,
    every_item,
    field_equals,
    page_of,
    rule,
    shaped,
    validate,
)

REMEMBERED_ORDERS = 20  # a writer re-reads its recent orders, not its whole history


class Names:
    """Every request name the scenarios emit (the e2e tests check each one appears)."""

    LOGIN = "/api/auth/login"
    LOGIN_REJECTED = "/api/auth/login [bad password]"
    ME = "/api/me"
    PRODUCTS = "/api/products"
    PRODUCTS_PAGE = "/api/products?page={page}"
    PRODUCT = "/api/products/{id}"
    PRODUCT_UNKNOWN = "/api/products/{id} [unknown]"
    PRODUCTS_BY_CATEGORY = "/api/products?category={category}"
    PRODUCTS_BY_PRICE = "/api/products?min_price={min}&max_price={max}&in_stock=true"
    SEARCH = "/api/products/search?q={term}"
    CATEGORIES = "/api/categories"
    SUMMARY = "/api/stats/summary"
    DASHBOARD = "/api/dashboard"
    ORDERS = "/api/orders"  # GET lists them, POST places one: Locust keys stats on method and name
    ORDER = "/api/orders/{id}"


class HttpClient(Protocol):
    def request(self, method: str, url: str, **kwargs: Any) -> AbstractContextManager[CatchResponse]: ...


class Api:
    """The demo target's API as seen by one simulated user (its token, its picker, its orders)."""

    def __init__(self, client: HttpClient, picker: Picker | None = None) -> None:
        self.client = client
        self.pick = picker or Picker()
        self.token: str | None = None
        self.username: str | None = None
        self.order_ids: deque[int] = deque(maxlen=REMEMBERED_ORDERS)

    def _call(
        self,
        method: str,
        path: str,
        *,
        name: str,
        status: int = 200,
        body: Check | None = None,
        json: Any = None,
        auth: bool = True,
    ) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"} if auth and self.token else None
        with self.client.request(method, path, name=name, catch_response=True, headers=headers, json=json) as response:
            return validate(response, status=status, body=body)

    # ---- account ----
    def login(self, username: str | None = None, password: str = DEMO_PASSWORD) -> bool:
        """Log in as `username` (a random seeded account by default) and keep the token."""
        username = username or self.pick.account()
        data = self._call(
            "POST",
            "/api/auth/login",
            name=Names.LOGIN,
            auth=False,
            json={"username": username, "password": password},
            body=shaped(TOKEN, rule(lambda d: d["token_type"].lower() == "bearer", "token_type is not bearer")),
        )
        if data is None:
            return False
        self.token, self.username = data["access_token"], username
        return True

    def login_rejected(self) -> None:
        """A wrong password must be refused with 401: a success here is a security bug."""
        self._call(
            "POST",
            "/api/auth/login",
            name=Names.LOGIN_REJECTED,
            status=401,
            auth=False,
            json={"username": self.pick.account(), "password": "not-the-password"},
            body=shaped(ERROR),
        )

    def me(self) -> None:
        self._call("GET", "/api/me", name=Names.ME, body=shaped(ME, field_equals("username", self.username)))

    def dashboard(self) -> None:
        own = rule(lambda d: d["user"]["username"] == self.username, "body.user is someone else")
        few = rule(lambda d: len(d["recent_orders"]) <= 5 and len(d["top_products"]) <= 5, "more than 5 rows")
        self._call("GET", "/api/dashboard", name=Names.DASHBOARD, body=shaped(DASHBOARD, own, few))

    # ---- catalog ----
    def _products(self, query: str, name: str, page: int, page_size: int, *extra: Check) -> Any:
        data = self._call(
            "GET",
            f"/api/products?{query}page={page}&page_size={page_size}",
            name=name,
            body=shaped(PRODUCT_PAGE, page_of(page, page_size), *extra),
        )
        if data is not None:
            self.pick.learn_names(item["name"] for item in data["items"][:5])
        return data

    def list_products(self) -> None:
        """The first page, as a user landing on the catalog sees it."""
        data = self._products("", Names.PRODUCTS, 1, 20)
        if data is not None:
            self.pick.learn_total(data["total"])

    def paginate(self) -> None:
        size = self.pick.page_size()
        self._products("", Names.PRODUCTS_PAGE, self.pick.page(size), size)

    def product(self) -> None:
        product_id = self.pick.product_id()
        data = self._call(
            "GET",
            f"/api/products/{product_id}",
            name=Names.PRODUCT,
            body=shaped(PRODUCT, field_equals("id", product_id)),
        )
        if data is not None:
            self.pick.learn_names([data["name"]])

    def unknown_product(self) -> None:
        """A stale link: 404 with a detail is the right answer, and counts as a success."""
        product_id = self.pick.unknown_product_id()
        self._call("GET", f"/api/products/{product_id}", name=Names.PRODUCT_UNKNOWN, status=404, body=shaped(ERROR))

    def by_category(self) -> None:
        category = self.pick.category()
        if category is None:  # first use: learn the categories the way a client would, once
            self.categories()
            category = self.pick.category()
            if category is None:
                return  # the categories call already failed with its reason
        in_category = every_item(lambda p: p["category"] == category, "the category filter")
        self._products(f"category={quote(category)}&", Names.PRODUCTS_BY_CATEGORY, 1, 20, in_category)

    def by_price(self) -> None:
        low, high = self.pick.price_range()
        in_range = every_item(lambda p: low <= p["price"] <= high and p["stock"] > 0, "the price/stock filter")
        self._products(f"min_price={low}&max_price={high}&in_stock=true&", Names.PRODUCTS_BY_PRICE, 1, 20, in_range)

    def search(self) -> None:
        term = self.pick.search_term()
        matches = every_item(lambda p: term in p["name"].lower() or term in p["description"].lower(), "the search term")
        bounded = rule(lambda d: len(d["items"]) <= min(SEARCH_LIMIT, d["total"]), "more items than total or limit")
        self._call(
            "GET",
            f"/api/products/search?q={quote(term)}&limit={SEARCH_LIMIT}",
            name=Names.SEARCH,
            body=shaped(SEARCH, field_equals("query", term), matches, bounded),
        )

    def categories(self) -> None:
        some = rule(lambda d: len(d["items"]) > 0, "body.items is empty")
        data = self._call("GET", "/api/categories", name=Names.CATEGORIES, body=shaped(CATEGORIES, some))
        if data is not None:
            self.pick.learn_categories(item["name"] for item in data["items"])

    def summary(self) -> None:
        adds_up = rule(
            lambda d: sum(row["products"] for row in d["by_category"]) == d["products"],
            "by_category products do not add up to products",
        )
        self._call("GET", "/api/stats/summary", name=Names.SUMMARY, body=shaped(SUMMARY, adds_up))

    # ---- orders ----
    def create_order(self) -> None:
        product_id, quantity = self.pick.product_id(), self.pick.quantity()
        data = self._call(
            "POST",
            "/api/orders",
            name=Names.ORDERS,
            status=201,
            json={"product_id": product_id, "quantity": quantity},
            body=shaped(ORDER, field_equals("product_id", product_id), field_equals("quantity", quantity)),
        )
        if data is not None:
            self.order_ids.append(data["id"])

    def my_orders(self) -> None:
        self._call(
            "GET",
            "/api/orders?page=1&page_size=20",
            name=Names.ORDERS,
            body=shaped(ORDER_PAGE, page_of(1, 20, growing=True)),
        )

    def order(self) -> None:
        """Re-read one of this user's own orders (placing one first if it has none yet)."""
        if not self.order_ids:
            self.create_order()
            if not self.order_ids:
                return  # the create already failed with its reason
        order_id = self.pick.rng.choice(self.order_ids)
        self._call(
            "GET",
            f"/api/orders/{order_id}",
            name=Names.ORDER,
            body=shaped(ORDER, field_equals("id", order_id)),
        )
