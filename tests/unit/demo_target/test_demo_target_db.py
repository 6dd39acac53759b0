"""Seeding is deterministic, big enough, cached, and the queries return what they claim."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from loadtest.demo_target import db
from loadtest.demo_target.queries import ProductFilter, Store


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("seed") / "a.sqlite3"
    db.seed_database(path)
    return path


@pytest.fixture()
def store(seeded: Path, tmp_path: Path) -> Store:
    copy = tmp_path / "copy.sqlite3"
    copy.write_bytes(seeded.read_bytes())
    return Store(copy)


def all_products(path: Path) -> list[tuple[int, str, str, float, int, str]]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT id, name, category, price, stock, description FROM products ORDER BY id")
        return list(rows.fetchall())
    finally:
        conn.close()


def test_seeding_twice_gives_identical_data(seeded: Path, tmp_path: Path) -> None:
    again = tmp_path / "b.sqlite3"
    db.seed_database(again)
    assert db.content_digest(again) == db.content_digest(seeded)


def test_a_different_seed_gives_different_data(seeded: Path, tmp_path: Path) -> None:
    other = tmp_path / "c.sqlite3"
    db.seed_database(other, seed=db.SEED + 1)
    assert db.content_digest(other) != db.content_digest(seeded)


def test_seeded_database_has_the_promised_row_counts(seeded: Path) -> None:
    conn = sqlite3.connect(seeded)
    try:
        counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("products", "users", "orders")}
        categories = conn.execute("SELECT count(DISTINCT category) FROM products").fetchone()[0]
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        first, last = conn.execute("SELECT min(username), max(username) FROM users").fetchone()
    finally:
        conn.close()
    assert counts == {"products": 10_000, "users": 500, "orders": 5_000}
    assert categories == 12
    assert mode == "wal"
    assert (first, last) == ("user0001", "user0500")


def test_seed_cache_is_reused_and_prepare_copies_it(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = db.prepare_database(tmp_path / "run1", cache)
    second = db.prepare_database(tmp_path / "run2", cache)
    assert (first.cache_hit, second.cache_hit) == (False, True)
    assert [p.name for p in cache.iterdir()] == [f"seed-v{db.SEED_VERSION}.sqlite3"]
    assert db.content_digest(first.path) == db.content_digest(second.path)
    assert first.path.parent.name == "run1" and second.path.parent.name == "run2"


def test_prepare_keeps_an_existing_run_database(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    prepared = db.prepare_database(tmp_path / "run", cache)
    conn = sqlite3.connect(prepared.path)
    conn.execute("DELETE FROM orders WHERE id = 1")
    conn.commit()
    conn.close()
    again = db.prepare_database(tmp_path / "run", cache)
    conn = sqlite3.connect(again.path)
    remaining = conn.execute("SELECT count(*) FROM orders").fetchone()[0]
    conn.close()
    assert remaining == 4_999


@pytest.mark.parametrize("term", ["kettle", "Red", "te", "yo-yo", "ed t", "zzz", "100%"])
def test_search_equals_a_plain_substring_scan(store: Store, seeded: Path, term: str) -> None:
    expected = [
        pid
        for pid, name, _, _, _, description in all_products(seeded)
        if term.lower() in name.lower() or term.lower() in description.lower()
    ]
    items, total = store.search(term, 100)
    assert total == len(expected)
    assert [item["id"] for item in items] == expected[:100]


def test_filters_match_a_plain_scan(store: Store, seeded: Path) -> None:
    flt = ProductFilter(category="kitchen", min_price=10.0, max_price=40.0, in_stock=True)
    expected = [
        pid
        for pid, _, category, price, stock, _ in all_products(seeded)
        if category == "kitchen" and 10.0 <= price <= 40.0 and stock > 0
    ]
    page = store.products(2, 25, flt)
    assert page.total == len(expected) > 25
    assert [item["id"] for item in page.items] == expected[25:50]
    assert page.to_json()["pages"] == -(-len(expected) // 25)


def test_out_of_stock_filter_returns_only_zero_stock(store: Store) -> None:
    page = store.products(1, 100, ProductFilter(in_stock=False))
    assert page.total > 0
    assert {item["stock"] for item in page.items} == {0}


def test_summary_totals_agree_with_categories(store: Store) -> None:
    summary = store.summary()
    categories = store.categories()
    assert summary["products"] == 10_000 == sum(c["product_count"] for c in categories)
    assert [c["category"] for c in summary["by_category"]] == sorted(db.CATEGORIES)
    assert summary["orders"] == 5_000
    assert 1.99 <= summary["avg_price"] <= 1999.0


def test_new_order_is_visible_to_its_owner_only(store: Store) -> None:
    order = store.create_order(user_id=7, product_id=42, quantity=3)
    assert order is not None
    product = store.product(42)
    assert product is not None
    assert order["total"] == round(product["price"] * 3, 2)
    assert store.order(7, order["id"]) == order
    assert store.order(8, order["id"]) is None
    assert store.create_order(user_id=7, product_id=10_001, quantity=1) is None
