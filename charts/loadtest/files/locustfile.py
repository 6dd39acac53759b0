"""Example locustfile used when locustfiles.files is empty: one user reading the target's "/".

Replace it with your own: `--set-file 'locustfiles.files.locustfile\.py=./locustfile.py'`,
or let the loadtest controller fill locustfiles.files from a scenario folder.
"""

from locust import FastHttpUser, between, task


class ExampleUser(FastHttpUser):
    """Fetches the front page once every one to three seconds."""

    wait_time = between(1, 3)

    @task
    def front_page(self) -> None:
        self.client.get("/")
