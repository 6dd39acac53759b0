"""Response validation: a request counts as a success only when its status and its body are right.

Locust, left alone, calls any 2xx a success — a 200 with an empty list, a
wrong product or an HTML error page would all pass. Every scenario request is
therefore made with `catch_response=True` and handed to `validate`, which
marks it success or failure with a reason a person can act on
("expected HTTP 200, got 503: service unavailable").

Reasons are grouped by Locust into one failure row per distinct text, so a
reason never carries a per-request value (an id, a price): digits in quoted
server text are replaced with `N`. That keeps the failures table and the
Prometheus labels bounded however long the run.

This module imports nothing from Locust (importing Locust monkey-patches the
standard library), so the unit tests exercise it with plain fake responses.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any, Protocol

Check = Callable[[Any], "str | None"]  # returns why a parsed body is wrong, or None when it is right
NUMBER = (int, float)  # JSON numbers: 30 and 30.5 are both prices
SNIPPET_CHARS = 80  # enough to read an error detail, short enough for a table cell


class CatchResponse(Protocol):
    """What `validate` needs: Locust's ResponseContextManager (FastHttpUser and HttpUser) fits."""

    @property
    def status_code(self) -> int: ...

    @property
    def content(self) -> bytes | None: ...

    def success(self) -> None: ...

    def failure(self, exc: Any) -> None: ...


def snippet(content: bytes | None) -> str:
    """A short, digit-free rendering of a body for a failure reason (the `detail` when there is one)."""
    if not content:
        return "empty body"
    text = content.decode("utf-8", errors="replace")
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("detail"), str):
        text = parsed["detail"]
    text = re.sub(r"\d+", "N", " ".join(text.split()))
    return text if len(text) <= SNIPPET_CHARS else text[: SNIPPET_CHARS - 3] + "..."


def validate(response: CatchResponse, *, status: int = 200, body: Check | None = None) -> Any:
    """Mark `response` success or failure; return its parsed JSON body when it passed, else None."""
    code = response.status_code
    if code != status:
        if not code:
            error = getattr(response, "error", None)
            reason = f"expected HTTP {status}, got no response ({type(error).__name__ if error else 'no error'})"
        else:
            reason = f"expected HTTP {status}, got {code}: {snippet(response.content)}"
        response.failure(reason)
        return None
    try:
        data = json.loads(response.content or b"")
    except ValueError:
        response.failure(f"HTTP {code} but the body is not JSON: {snippet(response.content)}")
        return None
    problem = body(data) if body is not None else None
    if problem is not None:
        response.failure(f"HTTP {code} but the body is wrong: {problem}")
        return None
    response.success()
    return data


# ---- body shapes: a dict of key -> type, a nested dict, or a one-element list meaning "list of" ----
Schema = Any  # type | tuple[type, ...] | dict[str, Schema] | list[Schema]
# A compiled schema: None when the value fits, else (path below this node, what is wrong).
_Node = Callable[[Any], "tuple[str, str] | None"]
_compiled: dict[int, tuple[Schema, _Node]] = {}  # id(schema) -> (schema kept alive, its node)


def mismatch(value: Any, schema: Schema, path: str = "body") -> str | None:
    """Why `value` does not have the shape `schema`, naming the path (`body.items[].price`), or None.

    Schemas are compiled once into closures that compare exact JSON types
    (`type(v) in {int}` — which also keeps `true` from passing as a count):
    a worker validates hundreds of pages a second, and walking the schema
    declaration with isinstance on every field cost ~0.4 ms per 20-item page.
    """
    entry = _compiled.get(id(schema))
    if entry is None or entry[0] is not schema:
        entry = _compiled[id(schema)] = (schema, _compile(schema))
    problem = entry[1](value)
    return None if problem is None else f"{path}{problem[0]} {problem[1]}"


def _compile(schema: Schema) -> _Node:
    if isinstance(schema, dict):
        fields = [(key, f".{key}", _compile(sub)) for key, sub in schema.items()]

        def obj(value: Any) -> tuple[str, str] | None:
            if type(value) is not dict:
                return "", f"is {_kind(value)}, expected an object"
            for key, dotted, node in fields:
                if key not in value:
                    return dotted, "is missing"
                problem = node(value[key])
                if problem is not None:
                    return dotted + problem[0], problem[1]
            return None

        return obj
    if isinstance(schema, list):
        item_node = _compile(schema[0])

        def array(value: Any) -> tuple[str, str] | None:
            if type(value) is not list:
                return "", f"is {_kind(value)}, expected a list"
            for item in value:
                problem = item_node(item)
                if problem is not None:
                    return "[]" + problem[0], problem[1]
            return None

        return array
    types = schema if isinstance(schema, tuple) else (schema,)
    allowed, expected = frozenset(types), _names(types)

    def leaf(value: Any) -> tuple[str, str] | None:
        return None if type(value) in allowed else ("", f"is {_kind(value)}, expected {expected}")

    return leaf


def _kind(value: Any) -> str:
    kinds = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return kinds.get(type(value), "a number")


def _names(types: Sequence[type]) -> str:
    return " or ".join({int: "an integer", float: "a number", str: "a string"}.get(t, t.__name__) for t in types)


def shaped(schema: Schema, *semantic: Check) -> Check:
    """A check: the body has `schema`'s shape, then every semantic check passes (in order)."""

    def check(data: Any) -> str | None:
        problem = mismatch(data, schema)
        if problem:
            return problem
        for extra in semantic:
            problem = extra(data)
            if problem:
                return problem
        return None

    return check


def rule(predicate: Callable[[Any], bool], reason: str) -> Check:
    """A check from a predicate on the whole body and the reason to give when it is false."""

    def check(data: Any) -> str | None:
        return None if predicate(data) else reason

    return check


def field_equals(key: str, expected: Any) -> Check:
    """body[key] == expected; the reason names the key, not the (per-request) values."""

    def check(data: Any) -> str | None:
        return None if data.get(key) == expected else f"body.{key} differs from the one requested"

    return check


def every_item(predicate: Callable[[Any], bool], what: str, key: str = "items") -> Check:
    """Every element of body[key] satisfies `predicate` (e.g. a filter was applied)."""

    def check(data: Any) -> str | None:
        bad = sum(1 for item in data[key] if not predicate(item))
        return f"{bad} of {len(data[key])} {key} do not match {what}" if bad else None

    return check


def page_of(page: int, page_size: int, *, growing: bool = False) -> Check:
    """A page echoes what was asked, holds at most page_size items, and its counts add up.

    `growing`: rows may be added concurrently (orders: many simulated users share
    an account), so a page may hold more than the total counted a moment before.
    """

    def check(data: Any) -> str | None:
        if data["page"] != page or data["page_size"] != page_size:
            return "body.page/page_size differ from the ones requested"
        items, total, pages = len(data["items"]), data["total"], data["pages"]
        if total < 0 or pages != -(-total // page_size):
            return "body.pages is not ceil(total / page_size)"
        expected = max(0, min(page_size, total - (page - 1) * page_size))
        if items != expected and not (growing and expected <= items <= page_size):
            return f"page holds {items} items, expected {expected} from total and page"
        return None

    return check


PRODUCT: Schema = {
    "id": int,
    "sku": str,
    "name": str,
    "category": str,
    "price": NUMBER,
    "stock": int,
    "rating": NUMBER,
    "description": str,
    "created_at": str,
}
ORDER: Schema = {
    "id": int,
    "product_id": int,
    "quantity": int,
    "total": NUMBER,
    "status": str,
    "created_at": str,
}
PAGE: Schema = {"items": list, "page": int, "page_size": int, "total": int, "pages": int}
PRODUCT_PAGE: Schema = {**PAGE, "items": [PRODUCT]}
ORDER_PAGE: Schema = {**PAGE, "items": [ORDER]}
ERROR: Schema = {"detail": str}
TOKEN: Schema = {"access_token": str, "token_type": str, "expires_in": int}
ME: Schema = {"username": str, "id": int, "created_at": str}
SEARCH: Schema = {"query": str, "items": [PRODUCT], "total": int}
CATEGORIES: Schema = {"items": [{"name": str, "product_count": int}]}
SUMMARY: Schema = {
    "products": int,
    "orders": int,
    "avg_price": NUMBER,
    "by_category": [{"category": str, "products": int, "avg_price": NUMBER, "stock": int}],
}
DASHBOARD: Schema = {
    "user": {"username": str},
    "recent_orders": [ORDER],
    "summary": {"orders": int, "spent": NUMBER},
    "top_products": [PRODUCT],
}
