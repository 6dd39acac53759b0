"""Every SQL statement the API runs, on one process's two SQLite connections.

Reads go through a read-only connection (`mode=ro`) so a bug can never write
through it; writes (new orders) through a second read-write connection. The
database is in WAL mode, so readers in every process never wait for a writer
and see each commit immediately. Statements are short and indexed: they run
on the event loop thread directly, which is cheaper than a thread hop for
sub-millisecond work.
"""

from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loadtest.demo_target.db import iso

Row = dict[str, Any]
PRODUCT_COLUMNS = "id, sku, name, category, price, stock, rating, description, created_at"
ORDER_COLUMNS = "id, product_id, quantity, total, status, created_at"
BUSY_TIMEOUT_MS = 5_000  # writers in other processes hold the lock for microseconds; 5 s means "stuck"
BROAD_FILTER_ROWS = 1_000  # beyond this many matches a page is cheaper found in id order than sorted
MIN_TRIGRAM = 3  # the FTS5 trigram index only serves terms of three characters or more


@dataclass(frozen=True)
class ProductFilter:
    """The list endpoint's filters; None means "not filtered on this"."""

    category: str | None = None
    min_price: float | None = None
    max_price: float | None = None
    in_stock: bool | None = None

    def where(self, *, ranges_indexed: bool = True) -> tuple[str, list[Any]]:
        """The WHERE clause and its parameters. `ranges_indexed=False` prefixes the price and
        stock columns with `+`, which tells SQLite not to use their indices: for a broad range,
        walking the table in id order and stopping after one page beats sorting every match."""
        p = "" if ranges_indexed else "+"
        clauses: list[str] = []
        params: list[Any] = []
        if self.category is not None:
            clauses.append("category = ?")
            params.append(self.category)
        if self.min_price is not None:
            clauses.append(f"{p}price >= ?")
            params.append(self.min_price)
        if self.max_price is not None:
            clauses.append(f"{p}price <= ?")
            params.append(self.max_price)
        if self.in_stock is not None:
            clauses.append(f"{p}stock > 0" if self.in_stock else f"{p}stock = 0")
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


@dataclass(frozen=True)
class Page:
    items: list[Row]
    page: int
    page_size: int
    total: int

    def to_json(self) -> Row:
        pages = math.ceil(self.total / self.page_size)
        return {
            "items": self.items,
            "page": self.page,
            "page_size": self.page_size,
            "total": self.total,
            "pages": pages,
        }


class Store:
    """One process's database access."""

    def __init__(self, db_path: Path) -> None:
        # The writer opens first: in WAL mode it creates the -wal/-shm files a read-only opener needs.
        self._rw = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
        self._rw.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        self._rw.execute("PRAGMA journal_mode=WAL")
        self._rw.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable to a crash of the process
        self._ro = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, check_same_thread=False)
        self._ro.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")

    def close(self) -> None:
        self._ro.close()
        self._rw.close()

    def _all(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> list[Row]:
        cursor = self._ro.execute(sql, params)
        rows = cursor.fetchall()
        columns = [column[0] for column in cursor.description]  # once per query, not per row
        return [dict(zip(columns, row, strict=True)) for row in rows]

    def _one(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> Row | None:
        rows = self._all(sql, params)
        return rows[0] if rows else None

    def _count(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> int:
        row = self._one(sql, params)
        return int(next(iter(row.values()))) if row else 0

    # --- users -----------------------------------------------------------------------------
    def user(self, username: str) -> Row | None:
        return self._one("SELECT id, username, password_hash, created_at FROM users WHERE username = ?", (username,))

    # --- products --------------------------------------------------------------------------
    def products(self, page: int, page_size: int, flt: ProductFilter) -> Page:
        where, params = flt.where()
        total = self._count(f"SELECT count(*) AS n FROM products{where}", params)
        if flt.category is not None or total > BROAD_FILTER_ROWS:
            where, params = flt.where(ranges_indexed=False)
        items = self._all(
            f"SELECT {PRODUCT_COLUMNS} FROM products{where} ORDER BY id LIMIT ? OFFSET ?",
            [*params, page_size, (page - 1) * page_size],
        )
        return Page(items, page, page_size, total)

    def product(self, product_id: int) -> Row | None:
        return self._one(f"SELECT {PRODUCT_COLUMNS} FROM products WHERE id = ?", (product_id,))

    def search(self, query: str, limit: int) -> tuple[list[Row], int]:
        """Case-insensitive substring match on name or description, lowest ids first."""
        if len(query) >= MIN_TRIGRAM:
            phrase = '"' + query.replace('"', '""') + '"'
            match = "id IN (SELECT rowid FROM products_fts WHERE products_fts MATCH ?)"
            params: list[Any] = [phrase]
        else:
            escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            match = "(name LIKE ? ESCAPE '\\' OR description LIKE ? ESCAPE '\\')"
            params = [f"%{escaped}%"] * 2
        total = self._count(f"SELECT count(*) AS n FROM products WHERE {match}", params)
        items = self._all(f"SELECT {PRODUCT_COLUMNS} FROM products WHERE {match} ORDER BY id LIMIT ?", [*params, limit])
        return items, total

    def categories(self) -> list[Row]:
        return self._all(
            "SELECT category AS name, count(*) AS product_count FROM products GROUP BY category ORDER BY category"
        )

    def summary(self) -> Row:
        by_category = self._all(
            "SELECT category, count(*) AS products, round(avg(price), 2) AS avg_price, sum(stock) AS stock, "
            "sum(price) AS price_sum FROM products GROUP BY category ORDER BY category"
        )
        products = sum(int(row["products"]) for row in by_category)
        price_sum = sum(float(row.pop("price_sum")) for row in by_category)
        return {
            "products": products,
            "orders": self._count("SELECT count(*) AS n FROM orders"),
            "avg_price": round(price_sum / products, 2) if products else 0.0,
            "by_category": by_category,
        }

    # --- orders ----------------------------------------------------------------------------
    def orders(self, user_id: int, page: int, page_size: int) -> Page:
        total = self._count("SELECT count(*) AS n FROM orders WHERE user_id = ?", (user_id,))
        items = self._all(
            f"SELECT {ORDER_COLUMNS} FROM orders WHERE user_id = ? ORDER BY id LIMIT ? OFFSET ?",
            (user_id, page_size, (page - 1) * page_size),
        )
        return Page(items, page, page_size, total)

    def order(self, user_id: int, order_id: int) -> Row | None:
        return self._one(f"SELECT {ORDER_COLUMNS} FROM orders WHERE id = ? AND user_id = ?", (order_id, user_id))

    def create_order(self, user_id: int, product_id: int, quantity: int) -> Row | None:
        """Insert a pending order at the product's current price; None if the product is unknown."""
        product = self.product(product_id)
        if product is None:
            return None
        total = round(float(product["price"]) * quantity, 2)
        created_at = iso(datetime.now(UTC))
        cursor = self._rw.execute(
            "INSERT INTO orders (user_id, product_id, quantity, total, status, created_at) "
            "VALUES (?, ?, ?, ?, 'pending', ?)",
            (user_id, product_id, quantity, total, created_at),
        )
        return {
            "id": cursor.lastrowid,
            "product_id": product_id,
            "quantity": quantity,
            "total": total,
            "status": "pending",
            "created_at": created_at,
        }

    def dashboard(self, user: Row) -> Row:
        recent = self._all(
            f"SELECT {ORDER_COLUMNS} FROM orders WHERE user_id = ? ORDER BY created_at DESC, id DESC LIMIT 5",
            (user["id"],),
        )
        totals = self._one(
            "SELECT count(*) AS orders, round(coalesce(sum(total), 0), 2) AS spent FROM orders WHERE user_id = ?",
            (user["id"],),
        ) or {"orders": 0, "spent": 0.0}
        top = self._all(f"SELECT {PRODUCT_COLUMNS} FROM products ORDER BY rating DESC, id LIMIT 5")
        return {
            "user": {"id": user["id"], "username": user["username"], "created_at": user["created_at"]},
            "recent_orders": recent,
            "summary": {"orders": totals["orders"], "spent": totals["spent"]},
            "top_products": top,
        }
