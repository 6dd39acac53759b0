"""Scenario (b), mixed users: three kinds of client at once, each with its own weight, pacing and endpoints.

- `LoginHeavyUser` (weight 1, `between(0.5, 1.5)`): logs in again and again and
  checks who it is — the auth path under load (token issuing, password hashing).
- `WriteHeavyUser` (weight 2, `between(2, 4)`): places orders and reads them
  back — the write path and read-your-writes.
- `ReadHeavyUser` (weight 5, `between(1, 3)`): browses the catalog — the
  cacheable bulk of traffic.

Locust splits users 1:2:5 between the classes. Every response is validated by
`lib.Api`; see README.md for the task tables and the planned rate.
"""

from __future__ import annotations

from lib import Api
from locust import FastHttpUser, between, tag, task


class LoginHeavyUser(FastHttpUser):
    """A client that does not keep its session: logs in, checks who it is, sometimes mistypes."""

    weight = 1
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        self.api = Api(self.client)
        self.api.login()

    @tag("account", "auth")
    @task(4)
    def login(self) -> None:
        self.api.login()

    @tag("account")
    @task(4)
    def me(self) -> None:
        self.api.me()

    @tag("account", "auth")
    @task(2)
    def login_with_wrong_password(self) -> None:
        self.api.login_rejected()


class WriteHeavyUser(FastHttpUser):
    """A buyer: places orders, then lists and re-reads them, and glances at the dashboard."""

    weight = 2
    wait_time = between(2, 4)

    def on_start(self) -> None:
        self.api = Api(self.client)
        self.api.login()

    @tag("orders", "write")
    @task(3)
    def place_order(self) -> None:
        self.api.create_order()

    @tag("orders")
    @task(2)
    def my_orders(self) -> None:
        self.api.my_orders()

    @tag("orders")
    @task(2)
    def order_detail(self) -> None:
        self.api.order()

    @tag("account")
    @task(1)
    def dashboard(self) -> None:
        self.api.dashboard()


class ReadHeavyUser(FastHttpUser):
    """A browser: lists, opens products, searches and filters; never writes."""

    weight = 5
    wait_time = between(1, 3)

    def on_start(self) -> None:
        self.api = Api(self.client)
        self.api.login()

    @tag("catalog")
    @task(4)
    def list_products(self) -> None:
        self.api.list_products()

    @tag("catalog")
    @task(6)
    def product_detail(self) -> None:
        self.api.product()

    @tag("search")
    @task(3)
    def search(self) -> None:
        self.api.search()

    @tag("catalog", "filter")
    @task(2)
    def filter_by_category(self) -> None:
        self.api.by_category()

    @tag("stats")
    @task(1)
    def summary(self) -> None:
        self.api.summary()
