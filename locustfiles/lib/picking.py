"""Random but valid request parameters: ids, pages, filters, search terms, accounts.

Random so that a run does not hammer one cached row; valid so that a failure
means the target is wrong, not the scenario. Facts about the target come from
the API contract (products 1..10000 are seeded, accounts user0001..user0500
share one password) or are learned from responses as a user browses
(categories, the number of pages, words in product names), so the same
scenarios also work against a staging target with different data.

One `Picker` per simulated user; pass a seeded `random.Random` for
reproducible sequences in tests.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable

SEEDED_PRODUCTS = 10_000  # api.md: product ids 1..10000 always exist
SEEDED_ACCOUNTS = 500  # api.md: user0001 .. user0500
DEMO_PASSWORD = "demo-password"  # api.md: shared by every seeded account
UNKNOWN_ID_RANGE = (900_000_000, 999_999_999)  # far above any seeded or created id: always a 404
PAGE_SIZES = (10, 20, 20, 20, 50, 100)  # 20 (the default) most often, like real clients
PRICE_FLOOR, PRICE_CEILING = 5.0, 300.0  # where most seeded prices lie: filters return rows
SEARCH_LIMIT = 20
MIN_TERM_CHARS = 3  # api.md needs >= 2; trigram search matches from 3
LEARNED_TERMS_MAX = 64  # bounded memory per user
# Words of the bundled demo target's product names: good guesses before anything was learned.
FALLBACK_TERMS = (
    "lamp",
    "kettle",
    "guitar",
    "tent",
    "puzzle",
    "coffee",
    "smart",
    "vintage",
    "blue",
    "wireless",
)


def account_name(number: int) -> str:
    return f"user{number:04d}"


class Picker:
    """Per-user source of parameters, learning what it can from the responses the user saw."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self.rng = rng or random.Random()
        self.categories: list[str] = []  # filled from GET /api/categories
        self.product_total = SEEDED_PRODUCTS  # refined from list responses
        self.terms: list[str] = []

    # ---- accounts ----
    def account(self) -> str:
        return account_name(self.rng.randint(1, SEEDED_ACCOUNTS))

    # ---- products ----
    def product_id(self) -> int:
        return self.rng.randint(1, SEEDED_PRODUCTS)

    def unknown_product_id(self) -> int:
        return self.rng.randint(*UNKNOWN_ID_RANGE)

    def page_size(self) -> int:
        return self.rng.choice(PAGE_SIZES)

    def page(self, page_size: int) -> int:
        """A page that exists: 1 .. ceil(total / page_size) for the total last seen."""
        pages = max(1, -(-self.product_total // page_size))
        return self.rng.randint(1, pages)

    def price_range(self) -> tuple[float, float]:
        low = round(self.rng.uniform(PRICE_FLOOR, PRICE_CEILING / 2), 2)
        return low, round(low + self.rng.uniform(5.0, PRICE_CEILING / 2), 2)

    def quantity(self) -> int:
        return self.rng.randint(1, 5)  # api.md allows 1..10; real baskets are small

    # ---- categories ----
    def category(self) -> str | None:
        """A category seen in GET /api/categories, or None when none is known yet."""
        return self.rng.choice(self.categories) if self.categories else None

    def learn_categories(self, names: Iterable[str]) -> None:
        self.categories = sorted(set(names))

    # ---- search ----
    def search_term(self) -> str:
        pool = self.terms or FALLBACK_TERMS
        return self.rng.choice(pool)

    def learn_names(self, names: Iterable[str]) -> None:
        """Remember words from product names, to search for things this user has seen."""
        for name in names:
            for word in re.findall(r"[a-zA-Z]+", name):
                word = word.lower()
                if len(word) >= MIN_TERM_CHARS and word not in self.terms:
                    if len(self.terms) >= LEARNED_TERMS_MAX:
                        self.terms[self.rng.randrange(LEARNED_TERMS_MAX)] = word
                    else:
                        self.terms.append(word)

    def learn_total(self, total: int) -> None:
        if total > 0:
            self.product_total = total
