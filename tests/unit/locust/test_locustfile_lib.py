"""The scenarios' shared helpers on fake responses: validators, pickers and the Api's request names."""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "locustfiles"))  # as the controller's PYTHONPATH

from lib import validation  # noqa: E402
from lib.api import Api, Names  # noqa: E402
from lib.picking import SEEDED_ACCOUNTS, SEEDED_PRODUCTS, Picker  # noqa: E402
from lib.validation import PRODUCT, PRODUCT_PAGE, every_item, page_of, shaped, validate  # noqa: E402


class FakeResponse:
    """Records what a ResponseContextManager would be told."""

    def __init__(self, status_code: int, body: Any = None, *, raw: bytes | None = None) -> None:
        self.status_code = status_code
        self.content = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        self.outcome: str | None = None
        self.reason: str | None = None

    def success(self) -> None:
        self.outcome = "success"

    def failure(self, exc: Any) -> None:
        self.outcome, self.reason = "failure", str(exc)


def product(pid: int = 7, **overrides: Any) -> dict[str, Any]:
    base = {
        "id": pid,
        "sku": f"TOY-{pid:06d}",
        "name": "Smart blue kite",
        "category": "toys",
        "price": 19.5,
        "stock": 3,
        "rating": 4.1,
        "description": "A smart kite in blue, for everyday use.",
        "created_at": "2024-03-01T10:00:00Z",
    }
    return {**base, **overrides}


def test_right_status_and_body_is_a_success_returning_the_body() -> None:
    response = FakeResponse(200, product())
    assert validate(response, body=shaped(PRODUCT)) == product()
    assert response.outcome == "success"


def test_wrong_status_fails_with_expected_and_actual_and_the_detail() -> None:
    response = FakeResponse(503, {"detail": "service unavailable"})
    assert validate(response) is None
    assert response.reason == "expected HTTP 200, got 503: service unavailable"


def test_expected_404_counts_as_success() -> None:
    response = FakeResponse(404, {"detail": "product not found"})
    validate(response, status=404, body=shaped(validation.ERROR))
    assert response.outcome == "success"


def test_unexpected_200_where_401_was_expected_is_a_failure() -> None:
    response = FakeResponse(200, {"access_token": "t", "token_type": "bearer", "expires_in": 3600})
    validate(response, status=401)
    assert response.reason is not None and response.reason.startswith("expected HTTP 401, got 200")


def test_failure_reason_has_no_digits_from_the_server_so_failure_rows_stay_bounded() -> None:
    response = FakeResponse(404, {"detail": "product 12345 not found"})
    validate(response)
    assert response.reason == "expected HTTP 200, got 404: product N not found"


def test_connection_error_names_the_error_type() -> None:
    response = FakeResponse(0, raw=b"")
    response.error = ConnectionRefusedError("refused")  # type: ignore[attr-defined]
    validate(response)
    assert response.reason == "expected HTTP 200, got no response (ConnectionRefusedError)"


def test_non_json_body_fails_and_quotes_a_short_snippet() -> None:
    response = FakeResponse(200, raw=b"<html><body>" + b"x" * 200 + b"</body></html>")
    validate(response)
    assert response.reason is not None and response.reason.startswith("HTTP 200 but the body is not JSON: <html>")
    assert len(response.reason) < 130


def test_missing_key_is_named_by_its_path() -> None:
    body = {"items": [product(), {k: v for k, v in product().items() if k != "price"}]}
    body.update(page=1, page_size=20, total=2, pages=1)
    response = FakeResponse(200, body)
    validate(response, body=shaped(PRODUCT_PAGE))
    assert response.reason == "HTTP 200 but the body is wrong: body.items[].price is missing"


def test_wrong_type_is_named_with_the_expected_type() -> None:
    response = FakeResponse(200, product(price="19.50"))
    validate(response, body=shaped(PRODUCT))
    assert response.reason == "HTTP 200 but the body is wrong: body.price is a string, expected an integer or a number"


def test_boolean_is_not_accepted_as_a_count() -> None:
    assert validation.mismatch({"stock": True}, {"stock": int}) == "body.stock is a boolean, expected an integer"


def test_list_where_object_expected_is_reported() -> None:
    assert validation.mismatch([1], PRODUCT) == "body is a list, expected an object"


def test_filter_check_counts_items_that_do_not_match() -> None:
    body = {"items": [product(category="toys"), product(category="books"), product(category="home")]}
    check = every_item(lambda p: p["category"] == "toys", "the category filter")
    assert check(body) == "2 of 3 items do not match the category filter"
    assert check({"items": [product()]}) is None


@pytest.mark.parametrize(
    ("page", "items", "total", "pages", "expected"),
    [
        (1, 20, 10_000, 500, None),
        (500, 20, 10_000, 500, None),
        (3, 5, 45, 3, None),
        (4, 0, 45, 3, None),  # past the last page: empty is right
        (1, 19, 10_000, 500, "page holds 19 items, expected 20 from total and page"),
        (1, 20, 10_000, 499, "body.pages is not ceil(total / page_size)"),
    ],
)
def test_page_counts_must_add_up(page: int, items: int, total: int, pages: int, expected: str | None) -> None:
    body = {"items": [product()] * items, "page": page, "page_size": 20, "total": total, "pages": pages}
    assert page_of(page, 20)(body) == expected


def test_page_echo_must_match_the_request() -> None:
    body = {"items": [], "page": 2, "page_size": 20, "total": 0, "pages": 0}
    assert page_of(1, 20)(body) == "body.page/page_size differ from the ones requested"


def test_picker_ids_stay_in_the_seeded_range_and_unknown_ids_outside_it() -> None:
    picker = Picker(random.Random(1))
    ids = {picker.product_id() for _ in range(5000)}
    assert min(ids) >= 1 and max(ids) <= SEEDED_PRODUCTS
    assert all(picker.unknown_product_id() > SEEDED_PRODUCTS * 1000 for _ in range(100))


def test_picker_accounts_are_seeded_usernames() -> None:
    picker = Picker(random.Random(2))
    names = {picker.account() for _ in range(3000)}
    assert names <= {f"user{n:04d}" for n in range(1, SEEDED_ACCOUNTS + 1)}
    assert "user0001" in names and "user0500" in names


def test_picker_pages_exist_for_the_total_it_learned() -> None:
    picker = Picker(random.Random(3))
    picker.learn_total(45)
    assert {picker.page(20) for _ in range(200)} == {1, 2, 3}


def test_picker_price_range_is_ordered_and_positive() -> None:
    picker = Picker(random.Random(4))
    for _ in range(500):
        low, high = picker.price_range()
        assert 0 < low < high


def test_picker_searches_for_words_it_has_seen_once_it_has_seen_some() -> None:
    picker = Picker(random.Random(5))
    picker.learn_names(["Deluxe teal kettle", "Yo-yo"])
    assert {picker.search_term() for _ in range(100)} == {"deluxe", "teal", "kettle"}


def test_picker_has_no_category_until_it_learned_them() -> None:
    picker = Picker(random.Random(6))
    assert picker.category() is None
    picker.learn_categories(["toys", "books", "toys"])
    assert picker.categories == ["books", "toys"]


class FakeClient:
    """Answers every request with one canned response and records what was asked."""

    def __init__(self, status: int, body: Any) -> None:
        self.status, self.body = status, body
        self.calls: list[tuple[str, str, str, dict[str, str] | None]] = []
        self.responses: list[FakeResponse] = []

    @contextmanager
    def request(self, method: str, url: str, **kwargs: Any) -> Iterator[FakeResponse]:
        self.calls.append((method, url, kwargs["name"], kwargs.get("headers")))
        assert kwargs["catch_response"] is True
        response = FakeResponse(self.status, self.body)
        self.responses.append(response)
        yield response


def test_api_names_detail_requests_by_template_not_by_url() -> None:
    client = FakeClient(200, product(42))
    api = Api(client, Picker(random.Random(7)))
    api.pick.product_id = lambda: 42  # type: ignore[method-assign]
    api.product()
    assert client.calls[0][1] == "/api/products/42"
    assert client.calls[0][2] == Names.PRODUCT == "/api/products/{id}"
    assert client.responses[0].outcome == "success"


def test_api_detail_of_a_different_product_is_a_failure() -> None:
    client = FakeClient(200, product(41))
    api = Api(client, Picker(random.Random(8)))
    api.pick.product_id = lambda: 42  # type: ignore[method-assign]
    api.product()
    assert client.responses[0].reason == "HTTP 200 but the body is wrong: body.id differs from the one requested"


def test_api_login_keeps_the_token_and_sends_it_as_bearer() -> None:
    client = FakeClient(200, {"access_token": "abc.def.ghi", "token_type": "bearer", "expires_in": 3600})
    api = Api(client, Picker(random.Random(9)))
    assert api.login("user0007") is True
    assert api.token == "abc.def.ghi" and api.username == "user0007"
    client.body = {"username": "user0007", "id": 7, "created_at": "2024-01-01T00:00:00Z"}
    api.me()
    assert client.calls[1][3] == {"Authorization": "Bearer abc.def.ghi"}
    assert client.responses[1].outcome == "success"


def test_api_me_for_another_user_is_a_failure() -> None:
    client = FakeClient(200, {"username": "user0008", "id": 8, "created_at": "2024-01-01T00:00:00Z"})
    api = Api(client, Picker(random.Random(10)))
    api.username = "user0007"
    api.me()
    assert client.responses[0].reason == "HTTP 200 but the body is wrong: body.username differs from the one requested"


def test_api_category_filter_fetches_categories_once_then_filters_by_one() -> None:
    client = FakeClient(200, {"items": [{"name": "toys", "product_count": 800}]})
    api = Api(client, Picker(random.Random(11)))
    api.categories()
    client.body = {"items": [product()], "page": 1, "page_size": 20, "total": 1, "pages": 1}
    api.by_category()
    api.by_category()
    assert [c[2] for c in client.calls] == [
        Names.CATEGORIES,
        Names.PRODUCTS_BY_CATEGORY,
        Names.PRODUCTS_BY_CATEGORY,
    ]
    assert client.calls[1][1] == "/api/products?category=toys&page=1&page_size=20"
    assert [r.outcome for r in client.responses] == ["success"] * 3


def test_growing_page_may_hold_rows_added_after_the_count_but_never_more_than_page_size() -> None:
    body = {"items": [{}] * 12, "page": 1, "page_size": 20, "total": 11, "pages": 1}
    assert page_of(1, 20, growing=True)(body) is None
    assert page_of(1, 20)(body) == "page holds 12 items, expected 11 from total and page"
    body["items"] = [{}] * 10
    assert page_of(1, 20, growing=True)(body) == "page holds 10 items, expected 11 from total and page"


def test_the_planned_request_rate_scales_by_the_requests_each_task_makes() -> None:
    from loadtest.locust.locustfiles import planned_request_rate, requests_per_task

    assert requests_per_task(tasks=9, task_requests=18) is None  # too few tasks to say
    assert requests_per_task(tasks=10, task_requests=20) == 2.0
    assert planned_request_rate(10.0, tasks=50, task_requests=100) == 20.0  # two requests per task
    assert planned_request_rate(10.0, tasks=50, task_requests=25) == 5.0  # half the tasks send nothing
    assert planned_request_rate(10.0, tasks=3, task_requests=9) == 10.0  # unknown yet: one per task
    assert planned_request_rate(None, tasks=50, task_requests=100) is None  # wait time not sampleable
