"""The API contract (api.md), exercised in-process: the ASGI app is called directly, no socket."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator, MutableMapping
from typing import Any

import pytest
from starlette.applications import Starlette

from loadtest.demo_target.app import Runtime, create_app
from loadtest.demo_target.config import AppConfig
from loadtest.demo_target.db import prepare_database

Response = tuple[int, Any]


class Client:
    """Calls the ASGI app like a server would: one scope, the body, collect what is sent."""

    def __init__(self, app: Starlette) -> None:
        self.app = app
        self.token: str | None = None
        self.peer = ("127.0.0.1", 40000)  # the client address the app sees

    def request(self, method: str, path: str, body: object = None, token: str | None = None) -> Response:
        raw_path, _, query = path.partition("?")
        headers = [(b"host", b"demo"), (b"content-type", b"application/json")]
        bearer = token if token is not None else self.token
        if bearer:
            headers.append((b"authorization", f"Bearer {bearer}".encode()))
        payload = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else b"")
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
            "scheme": "http", "path": raw_path, "raw_path": raw_path.encode(), "query_string": query.encode(),
            "root_path": "", "headers": headers, "client": self.peer, "server": ("127.0.0.1", 80),
        }  # fmt: skip
        incoming = [{"type": "http.request", "body": payload, "more_body": False}]
        sent: list[MutableMapping[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return incoming.pop(0) if incoming else {"type": "http.disconnect"}

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(message)

        asyncio.run(self.app(scope, receive, send))
        status = next(m["status"] for m in sent if m["type"] == "http.response.start")
        data = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        return status, json.loads(data)

    def get(self, path: str) -> Response:
        return self.request("GET", path)

    def login(self, username: str = "user0001", password: str = "demo-password") -> Response:
        return self.request("POST", "/api/auth/login", {"username": username, "password": password})


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    base = tmp_path_factory.mktemp("demo")
    prepared = prepare_database(base / "data", base / "cache")
    app = create_app(AppConfig.for_data_dir(base / "data", prepared.path))
    runtime: Runtime = app.state.runtime
    runtime.open()
    client = Client(app)
    status, body = client.login()
    assert status == 200
    client.token = body["access_token"]
    yield client
    runtime.close()


@pytest.mark.parametrize("path", ["/api/me", "/api/products", "/api/products/1", "/api/dashboard", "/api/orders"])
def test_api_endpoints_answer_401_without_a_token(client: Client, path: str) -> None:
    status, body = client.request("GET", path, token="")
    assert status == 401
    assert "Authorization" in body["detail"]


def test_a_forged_token_is_401(client: Client) -> None:
    status, body = client.request("GET", "/api/me", token="a.b.c")
    assert (status, body["detail"].startswith("invalid token")) == (401, True)


def test_login_issues_a_bearer_token_for_one_hour(client: Client) -> None:
    status, body = client.login("user0500")
    assert status == 200
    assert (body["token_type"], body["expires_in"]) == ("bearer", 3600)
    assert client.request("GET", "/api/me", token=body["access_token"])[1]["username"] == "user0500"


@pytest.mark.parametrize(("username", "password"), [("user0001", "wrong"), ("user0501", "demo-password")])
def test_bad_credentials_are_401(client: Client, username: str, password: str) -> None:
    assert client.login(username, password)[0] == 401


@pytest.mark.parametrize("body", [b"not json", b"[1]", {"username": "user0001"}, {"username": 1, "password": "x"}])
def test_a_malformed_login_body_is_422(client: Client, body: object) -> None:
    status, detail = client.request("POST", "/api/auth/login", body)
    assert status == 422 and detail["detail"]


def test_me_returns_the_callers_account(client: Client) -> None:
    status, body = client.get("/api/me")
    assert (status, body["username"], body["id"]) == (200, "user0001", 1)
    assert body["created_at"].startswith("2024-") and body["created_at"].endswith("Z")


def test_pagination_reports_totals_and_pages(client: Client) -> None:
    status, body = client.get("/api/products?page=3&page_size=7")
    assert status == 200
    assert (body["page"], body["page_size"], body["total"], body["pages"]) == (3, 7, 10_000, 1_429)
    assert [item["id"] for item in body["items"]] == list(range(15, 22))
    assert client.get("/api/products?page=1429&page_size=7")[1]["items"][-1]["id"] == 10_000


@pytest.mark.parametrize(
    "query", ["page_size=0", "page_size=101", "page=0", "page=x", "min_price=-1", "in_stock=maybe"]
)
def test_out_of_range_list_parameters_are_422(client: Client, query: str) -> None:
    status, body = client.get(f"/api/products?{query}")
    assert status == 422
    assert query.split("=")[0] in body["detail"]


def test_empty_paging_parameters_mean_the_defaults(client: Client) -> None:
    status, body = client.get("/api/orders?page=&page_size=")
    assert (status, body["page"], body["page_size"]) == (200, 1, 20)


def test_filters_filter_and_total_is_the_filtered_count(client: Client) -> None:
    status, body = client.get("/api/products?category=toys&min_price=20&max_price=30&in_stock=true&page_size=100")
    assert status == 200 and 0 < body["total"] < 10_000
    for item in body["items"]:
        assert item["category"] == "toys" and 20 <= item["price"] <= 30 and item["stock"] > 0
    assert client.get("/api/products?category=nope")[1]["total"] == 0


def test_product_detail_and_404_for_unknown_ids(client: Client) -> None:
    status, product = client.get("/api/products/42")
    assert status == 200
    assert set(product) == {
        "id",
        "sku",
        "name",
        "category",
        "price",
        "stock",
        "rating",
        "description",
        "created_at",
    }
    assert client.get("/api/products/10001")[0] == 404
    assert client.get("/api/products/abc") == (404, {"detail": "product 'abc' not found"})


def test_search_matches_substrings_and_needs_two_characters(client: Client) -> None:
    status, body = client.get("/api/products/search?q=kettle&limit=5")
    assert status == 200 and body["query"] == "kettle" and body["total"] > 5
    assert len(body["items"]) == 5 and all("kettle" in item["name"].lower() for item in body["items"])
    assert client.get("/api/products/search?q=k")[0] == 422


def test_categories_summary_and_dashboard_have_their_shapes(client: Client) -> None:
    categories = client.get("/api/categories")[1]["items"]
    assert len(categories) == 12 and sum(c["product_count"] for c in categories) == 10_000
    summary = client.get("/api/stats/summary")[1]
    assert summary["products"] == 10_000 and len(summary["by_category"]) == 12
    dashboard = client.get("/api/dashboard")[1]
    assert dashboard["user"]["username"] == "user0001"
    assert len(dashboard["recent_orders"]) <= 5 and len(dashboard["top_products"]) == 5
    assert dashboard["summary"]["orders"] >= len(dashboard["recent_orders"])


def test_orders_are_created_listed_and_private(client: Client) -> None:
    status, order = client.request("POST", "/api/orders", {"product_id": 5, "quantity": 2})
    assert status == 201 and order["status"] == "pending" and order["quantity"] == 2
    assert client.get(f"/api/orders/{order['id']}") == (200, order)
    listing = client.get("/api/orders?page_size=100")[1]
    assert order["id"] in [item["id"] for item in listing["items"]] and listing["total"] == len(listing["items"])
    other = client.login("user0002")[1]["access_token"]
    assert client.request("GET", f"/api/orders/{order['id']}", token=other)[0] == 404


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"product_id": 10_001, "quantity": 1}, 404),
        ({"product_id": 5, "quantity": 11}, 422),
        ({"quantity": 1}, 422),
    ],
)
def test_bad_orders_are_refused(client: Client, body: dict[str, int], status: int) -> None:
    assert client.request("POST", "/api/orders", body)[0] == status


def test_control_and_health_are_not_counted_but_unknown_paths_are(client: Client) -> None:
    before = client.get("/_control/stats")[1]
    assert client.get("/healthz") == (200, {"status": "ok"})
    assert client.get("/nowhere")[0] == 404
    client.get("/api/categories")
    after = client.get("/_control/stats")[1]
    assert after["served"] - before["served"] == 2
    assert after["by_route"]["GET /api/categories"] - before["by_route"].get("GET /api/categories", 0) == 1


def test_a_fault_delays_and_fails_only_its_route(client: Client) -> None:
    fault = {"route": "GET /api/categories", "delay_ms": 150, "error_rate": 1.0, "status": 500}
    status, listing = client.request("PUT", "/_control/faults", fault)
    assert status == 200 and listing["items"] == [{**fault, "seed": None}]
    started = time.monotonic()
    status, body = client.get("/api/categories")
    assert (status, time.monotonic() - started >= 0.15) == (500, True)
    assert "injected fault" in body["detail"]
    assert client.get("/api/stats/summary")[0] == 200
    assert client.request("DELETE", "/_control/faults")[1] == {"items": []}
    assert client.get("/api/categories")[0] == 200


def test_an_invalid_fault_is_422_with_the_field(client: Client) -> None:
    status, body = client.request("PUT", "/_control/faults", {"route": "GET /api/nope"})
    assert status == 422 and "fault.route" in body["detail"]


def test_counters_answer_any_client_but_faults_only_loopback(client: Client) -> None:
    """In a cluster the controller reads the counters through the API server (from the node's
    address); changing faults stays a loopback-only act (in a cluster: the chart's demoTarget.slow)."""
    client.peer = ("10.244.0.1", 41000)
    try:
        status, stats = client.get("/_control/stats")
        assert status == 200 and stats["served"] >= 0
        for method, body in (("GET", None), ("PUT", {"route": "GET /api/me", "delay_ms": 5}), ("DELETE", None)):
            status, answer = client.request(method, "/_control/faults", body)
            assert status == 403 and "loopback" in answer["detail"], (method, answer)
    finally:
        client.peer = ("127.0.0.1", 40000)
    status, listing = client.get("/_control/faults")
    assert status == 200 and all(f["route"] != "GET /api/me" or f["delay_ms"] != 5 for f in listing["items"])
