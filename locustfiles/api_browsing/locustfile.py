"""Scenario (a), API browsing: a logged-in shopper reading the catalog.

One user class, eleven weighted tasks over the catalog, search, stats and
account endpoints, paced `between(1, 3)` s (mean 2 s, so the planned rate is
users / 2 requests per second). Every response is validated — status and
body — by `lib.Api`; see README.md for the task table and how to run it.

FastHttpUser (geventhttpclient) rather than HttpUser: several times cheaper
per request, which decides how many users one core can simulate.
"""

from __future__ import annotations

from lib import Api
from locust import FastHttpUser, between, tag, task


class ApiBrowsingUser(FastHttpUser):
    """A shopper: lands on the catalog, pages, opens products, filters, searches, checks the account."""

    wait_time = between(1, 3)

    def on_start(self) -> None:
        self.api = Api(self.client)
        self.api.login()

    @tag("catalog")
    @task(10)
    def list_products(self) -> None:
        self.api.list_products()

    @tag("catalog")
    @task(6)
    def paginate(self) -> None:
        self.api.paginate()

    @tag("catalog")
    @task(14)
    def product_detail(self) -> None:
        self.api.product()

    @tag("catalog")
    @task(2)
    def unknown_product(self) -> None:
        self.api.unknown_product()

    @tag("catalog", "filter")
    @task(6)
    def filter_by_category(self) -> None:
        self.api.by_category()

    @tag("catalog", "filter")
    @task(4)
    def filter_by_price(self) -> None:
        self.api.by_price()

    @tag("search")
    @task(6)
    def search(self) -> None:
        self.api.search()

    @tag("catalog")
    @task(3)
    def categories(self) -> None:
        self.api.categories()

    @tag("stats")
    @task(3)
    def summary(self) -> None:
        self.api.summary()

    @tag("account")
    @task(4)
    def dashboard(self) -> None:
        self.api.dashboard()

    @tag("account")
    @task(2)
    def me(self) -> None:
        self.api.me()
