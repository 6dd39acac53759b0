"""The demo target's SQLite database: schema, deterministic seeding and the seed cache.

Seeding is deterministic (one `random.Random(SEED)` drives every row) so that
scenarios can rely on fixed facts: ids 1..PRODUCT_COUNT exist, `user0001` ..
`user0500` log in with `DEMO_PASSWORD`, and the categories and name words
below are the vocabulary of names and descriptions. A seeded file is cached
under `${LOADTEST_CACHE:-~/.cache/loadtest}/demo-target/` keyed by
`SEED_VERSION`, so a warm start is a file copy instead of a re-seed.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from loadtest.demo_target.auth import hash_password

SEED_VERSION = 2  # bump whenever the schema or the generated rows change: invalidates the cache
SEED = 20240601  # the one seed every generated row derives from
PRODUCT_COUNT = 10_000  # the issue asks for at least 10,000 rows
USER_COUNT = 500
ORDER_COUNT = 5_000  # "some orders": about ten per user
DEMO_PASSWORD = "demo-password"  # shared by every seeded account (api.md)
DB_FILENAME = "demo.sqlite3"
BASE_TIME = datetime(2024, 1, 1, tzinfo=UTC)  # fixed so created_at values are deterministic

CATEGORY_NOUNS: dict[str, tuple[str, ...]] = {
    "books": ("novel", "cookbook", "atlas", "journal", "anthology", "guide"),
    "clothing": ("jacket", "scarf", "sweater", "hoodie", "raincoat", "beanie"),
    "electronics": ("headphones", "speaker", "charger", "monitor", "keyboard", "router"),
    "garden": ("planter", "trowel", "hose", "birdhouse", "sprinkler", "rake"),
    "grocery": ("coffee", "tea", "honey", "granola", "olive oil", "chocolate"),
    "health": ("vitamins", "thermometer", "massager", "yoga mat", "scale", "toothbrush"),
    "home": ("lamp", "rug", "curtain", "blanket", "clock", "mirror"),
    "kitchen": ("kettle", "skillet", "blender", "knife", "toaster", "grinder"),
    "music": ("guitar", "ukulele", "metronome", "drum pad", "harmonica", "amplifier"),
    "outdoors": ("tent", "backpack", "lantern", "hammock", "compass", "sleeping bag"),
    "sports": ("football", "racket", "dumbbell", "helmet", "jump rope", "bicycle"),
    "toys": ("puzzle", "robot", "kite", "yo-yo", "train set", "teddy bear"),
}
CATEGORIES: tuple[str, ...] = tuple(sorted(CATEGORY_NOUNS))
ADJECTIVES = (
    "compact", "deluxe", "classic", "portable", "premium", "rugged", "smart", "vintage",
    "ultralight", "handmade", "modern", "ergonomic", "wireless", "organic", "foldable", "heavy-duty",
)  # fmt: skip
COLOURS = ("red", "blue", "green", "black", "white", "silver", "amber", "teal", "coral", "olive")
FEATURES = (
    "built to last", "easy to clean", "great as a gift", "with a two-year warranty",
    "made from recycled materials", "designed in Lisbon", "tested by professionals", "for everyday use",
)  # fmt: skip
ORDER_STATUSES = ("pending", "paid", "shipped", "delivered", "cancelled")

SCHEMA = """
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE products (
    id INTEGER PRIMARY KEY,
    sku TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    category TEXT NOT NULL,
    price REAL NOT NULL,
    stock INTEGER NOT NULL,
    rating REAL NOT NULL,
    description TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    product_id INTEGER NOT NULL REFERENCES products(id),
    quantity INTEGER NOT NULL,
    total REAL NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL
);
-- Each list filter has an index; the covering ones let the aggregates read only the index.
CREATE INDEX products_category ON products(category);  -- rows in id order: no sort for a page
CREATE INDEX products_category_price ON products(category, price, stock);
CREATE INDEX products_price ON products(price);
CREATE INDEX products_stock ON products(stock);
CREATE INDEX products_rating ON products(rating);
CREATE INDEX orders_user ON orders(user_id, id);
-- Substring search over name and description without scanning every row.
CREATE VIRTUAL TABLE products_fts USING fts5(
    name, description, content='products', content_rowid='id', tokenize='trigram'
);
"""


@dataclass(frozen=True)
class PreparedDb:
    """Where the run's database is and how it got there (for the report and logs)."""

    path: Path
    cache_hit: bool
    seconds: float


def iso(ts: datetime) -> str:
    """The one timestamp format of the API: UTC, seconds, a trailing Z."""
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def _created_at(rng: random.Random) -> str:
    return iso(BASE_TIME + timedelta(seconds=rng.randrange(0, 365 * 24 * 3600)))


ProductRow = tuple[int, str, str, str, float, int, float, str, str]


def _product_rows(rng: random.Random) -> list[ProductRow]:
    rows: list[ProductRow] = []
    for pid in range(1, PRODUCT_COUNT + 1):
        category = CATEGORIES[rng.randrange(len(CATEGORIES))]
        noun = rng.choice(CATEGORY_NOUNS[category])
        adjective, colour = rng.choice(ADJECTIVES), rng.choice(COLOURS)
        name = f"{adjective.capitalize()} {colour} {noun}"
        price = round(min(1999.0, max(1.99, rng.lognormvariate(3.4, 0.9))), 2)
        stock = 0 if rng.random() < 0.1 else rng.randint(1, 500)
        rating = round(rng.uniform(1.0, 5.0), 1)
        description = f"A {adjective} {noun} in {colour}, {rng.choice(FEATURES)}."
        sku = f"{category[:3].upper()}-{pid:06d}"
        rows.append((pid, sku, name, category, price, stock, rating, description, _created_at(rng)))
    return rows


def seed_database(path: Path, seed: int = SEED) -> None:
    """Create and fill a fresh database file at `path` (which must not exist)."""
    rng = random.Random(seed)
    conn = sqlite3.connect(path)
    try:
        conn.executescript(SCHEMA)
        users = [
            (uid, f"user{uid:04d}", hash_password(DEMO_PASSWORD, salt=rng.randbytes(16)), _created_at(rng))
            for uid in range(1, USER_COUNT + 1)
        ]
        conn.executemany("INSERT INTO users VALUES (?, ?, ?, ?)", users)
        products = _product_rows(rng)
        conn.executemany("INSERT INTO products VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", products)
        conn.execute("INSERT INTO products_fts(products_fts) VALUES ('rebuild')")
        prices = {p[0]: p[4] for p in products}
        orders = []
        for oid in range(1, ORDER_COUNT + 1):
            product_id, quantity = rng.randint(1, PRODUCT_COUNT), rng.randint(1, 5)
            orders.append(
                (
                    oid,
                    rng.randint(1, USER_COUNT),
                    product_id,
                    quantity,
                    round(prices[product_id] * quantity, 2),
                    rng.choice(ORDER_STATUSES),
                    _created_at(rng),
                )
            )
        conn.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?)", orders)
        conn.commit()
        conn.execute("ANALYZE")
        # WAL is persistent in the file header: every copy of the cached file opens in WAL mode.
        conn.execute("PRAGMA journal_mode=WAL")
    finally:
        conn.close()


def content_digest(path: Path) -> str:
    """A sha256 over every table's rows in a fixed order: equal digests mean equal data."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        digest = hashlib.sha256()
        for table in ("users", "products", "orders"):
            for row in conn.execute(f"SELECT * FROM {table} ORDER BY id"):  # noqa: S608 - fixed names
                digest.update(repr(row).encode())
        return digest.hexdigest()
    finally:
        conn.close()


def cache_dir() -> Path:
    """`${LOADTEST_CACHE:-~/.cache/loadtest}/demo-target`, the project's shared tool cache."""
    root = os.environ.get("LOADTEST_CACHE") or str(Path.home() / ".cache" / "loadtest")
    return Path(root) / "demo-target"


def cached_seed(cache: Path | None = None) -> tuple[Path, bool]:
    """Return the cached seeded file for SEED_VERSION, seeding it first if absent.

    Concurrent callers each seed into a private temporary file and publish it
    with an atomic rename; the files are identical, so the last rename wins
    harmlessly and nobody ever sees a half-written database.
    """
    directory = cache or cache_dir()
    target = directory / f"seed-v{SEED_VERSION}.sqlite3"
    if target.is_file():
        return target, True
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".seeding-", suffix=".sqlite3", dir=directory)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        tmp.unlink()
        seed_database(tmp)
        os.replace(tmp, target)
    finally:
        for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
            leftover.unlink(missing_ok=True)
    return target, False


def prepare_database(data_dir: Path, cache: Path | None = None) -> PreparedDb:
    """Put a seeded database into `data_dir` (kept if already there: orders survive a restart)."""
    started = time.perf_counter()
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / DB_FILENAME
    if path.is_file():
        return PreparedDb(path, True, time.perf_counter() - started)
    source, hit = cached_seed(cache)
    tmp = data_dir / f".{DB_FILENAME}.copying"
    shutil.copyfile(source, tmp)
    os.replace(tmp, path)
    return PreparedDb(path, hit, time.perf_counter() - started)
