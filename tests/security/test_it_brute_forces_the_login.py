"""Issue 14, item 1: guessing passwords on the token endpoint, the web login and the admin login.

Limits under test (settings defaults): 5 failures for one username from one address, 10 for one username from
all addresses, 20 from one address over all usernames, within a 15-minute cool-off; the token endpoint is also
throttled to 30 requests a minute per address. The client's address is REMOTE_ADDR unless HARNESS_NUM_PROXIES
says how many proxies append to X-Forwarded-For.
"""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.core.cache import cache
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.conftest import PASSWORD

TOKEN_URL = "/api/v1/auth/token/"
COOLOFF_SECONDS = 15 * 60


@pytest.fixture
def throttle_cleared():  # noqa: ANN201
    """The token throttle counts in the shared cache (Redis), which no test transaction rolls back."""
    used: list[str] = []

    def clear(*addresses: str) -> None:
        used.extend(addresses)
        cache.delete_many([f"throttle_token_{address}" for address in addresses])

    yield clear
    cache.delete_many([f"throttle_token_{address}" for address in used])


def web_login(client: Client, username: str, password: str, address: str, path: str = "/accounts/login/", **extra):  # noqa: ANN003, ANN201
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=address, **extra)


def token_request(username: str, password: str, address: str, **extra):  # noqa: ANN003, ANN201
    return APIClient().post(TOKEN_URL, {"username": username, "password": password}, REMOTE_ADDR=address, **extra)


def assert_locked_page(response) -> None:  # noqa: ANN001
    assert response.status_code == 429, response.status_code
    body = response.content.decode()
    assert "Login temporarily locked" in body and "Try again after" in body
    assert int(response["Retry-After"]) == COOLOFF_SECONDS


def assert_logged_in(client: Client, response) -> None:  # noqa: ANN001
    assert response.status_code == 302, response.status_code
    assert "_auth_user_id" in client.session


def test_it_rotates_x_forwarded_for_to_dodge_the_token_throttle(cast, settings, throttle_cleared):  # noqa: ANN001
    """A new X-Forwarded-For on every request used to be a new throttle key: 40 of 40 extra attempts passed."""
    settings.AXES_ENABLED = False  # the throttle on its own; the lockout has its own tests
    throttle_cleared("198.51.100.7")
    for i in range(30):
        response = token_request("lead", f"guess-{i}", "198.51.100.7", HTTP_X_FORWARDED_FOR=f"203.0.113.{i}")
        assert response.status_code == 400, (i, response.status_code)

    blocked = token_request("lead", PASSWORD, "198.51.100.7", HTTP_X_FORWARDED_FOR="203.0.113.200")

    assert blocked.status_code == 429
    assert blocked.json()["detail"].startswith("Too many login attempts from your address.")
    assert blocked.json()["errors"] == {}
    assert 0 < int(blocked["Retry-After"]) <= 60
    assert not Token.objects.filter(user=cast["lead"]).exists()


def test_it_rotates_x_forwarded_for_to_dodge_the_lockout_on_the_token_endpoint(cast, throttle_cleared):  # noqa: ANN001
    throttle_cleared("198.51.100.8")
    statuses = [
        token_request("lead", f"guess-{i}", "198.51.100.8", HTTP_X_FORWARDED_FOR=f"203.0.113.{i}").status_code
        for i in range(5)
    ]
    right = token_request("lead", PASSWORD, "198.51.100.8", HTTP_X_FORWARDED_FOR="203.0.113.99")

    assert statuses == [400, 400, 400, 400, 429]
    assert right.status_code == 429
    assert "Try again after" in right.json()["detail"] and right.json()["errors"] == {}
    assert int(right["Retry-After"]) == COOLOFF_SECONDS
    assert not Token.objects.filter(user=cast["lead"]).exists()
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"198.51.100.8"}


def test_it_guesses_passwords_on_the_web_login_form(cast):  # noqa: ANN001
    client = Client()
    for i in range(4):
        response = web_login(client, "member", f"guess-{i}", "192.0.2.10")
        assert response.status_code == 200 and b"Wrong username or password" in response.content

    assert_locked_page(web_login(client, "member", "guess-4", "192.0.2.10"))
    assert_locked_page(web_login(client, "member", PASSWORD, "192.0.2.10"))
    assert "_auth_user_id" not in client.session


def test_it_guesses_passwords_on_the_admin_login(cast):  # noqa: ANN001
    client = Client()
    for i in range(4):
        assert web_login(client, "admin", f"guess-{i}", "192.0.2.11", path="/admin/login/").status_code == 200

    assert_locked_page(web_login(client, "admin", "guess-4", "192.0.2.11", path="/admin/login/"))
    assert_locked_page(web_login(client, "admin", PASSWORD, "192.0.2.11", path="/admin/login/"))
    assert "_auth_user_id" not in client.session


def test_it_sprays_one_username_from_many_addresses(cast):  # noqa: ANN001
    for i in range(9):
        assert web_login(Client(), "lead", f"guess-{i}", f"192.0.2.{100 + i}").status_code == 200

    assert_locked_page(web_login(Client(), "lead", "guess-9", "192.0.2.109"))
    assert_locked_page(web_login(Client(), "lead", PASSWORD, "192.0.2.150"))


def test_it_sprays_many_usernames_from_one_address(cast, throttle_cleared):  # noqa: ANN001
    throttle_cleared("192.0.2.20")
    for i in range(19):
        response = web_login(Client(), f"user{i}", "guess", "192.0.2.20", HTTP_X_FORWARDED_FOR=f"203.0.113.{i}")
        assert response.status_code == 200, i

    assert_locked_page(web_login(Client(), "user19", "guess", "192.0.2.20"))
    assert_locked_page(web_login(Client(), "member", PASSWORD, "192.0.2.20"))
    assert token_request("member", PASSWORD, "192.0.2.20").status_code == 429
    client = Client()
    assert_logged_in(client, web_login(client, "member", PASSWORD, "192.0.2.21"))  # the address, not the user


def test_it_cannot_lock_a_user_out_everywhere_by_failing_from_one_address(cast):  # noqa: ANN001
    for i in range(5):
        web_login(Client(), "lead", f"guess-{i}", "192.0.2.30")
    assert_locked_page(web_login(Client(), "lead", PASSWORD, "192.0.2.30"))

    client = Client()
    assert_logged_in(client, web_login(client, "lead", PASSWORD, "192.0.2.31"))


def test_it_resets_the_count_after_a_successful_login(cast, throttle_cleared):  # noqa: ANN001
    throttle_cleared("192.0.2.40")
    client = Client()
    for round_ in range(2):
        for i in range(4):
            assert web_login(client, "member", f"typo-{round_}-{i}", "192.0.2.40").status_code == 200
        assert_logged_in(client, web_login(client, "member", PASSWORD, "192.0.2.40"))
        client.post("/accounts/logout/", REMOTE_ADDR="192.0.2.40")

    for i in range(4):  # the token endpoint resets it too
        assert token_request("member", f"typo-{i}", "192.0.2.40").status_code == 400
    assert token_request("member", PASSWORD, "192.0.2.40").status_code == 200
    assert token_request("member", "typo-again", "192.0.2.40").status_code == 400


def test_it_logs_into_its_own_account_to_wipe_its_failures(cast):  # noqa: ANN001
    """The outsider guesses lead's password, then logs into its own account hoping the success resets the count."""
    client = Client()
    for i in range(4):
        web_login(client, "lead", f"guess-{i}", "192.0.2.60")
    assert_logged_in(client, web_login(client, "outsider", PASSWORD, "192.0.2.60"))

    assert_locked_page(web_login(Client(), "lead", "guess-4", "192.0.2.60"))


def test_it_forges_x_forwarded_for_behind_one_proxy(cast, settings, throttle_cleared):  # noqa: ANN001
    """HARNESS_NUM_PROXIES=1: the proxy appends the client's address; what the client wrote before it is ignored."""
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    throttle_cleared("203.0.113.7", "203.0.113.8", "10.0.0.1")
    statuses = [
        token_request("lead", f"guess-{i}", "10.0.0.1", HTTP_X_FORWARDED_FOR=f"6.6.6.{i}, 203.0.113.7").status_code
        for i in range(5)
    ]

    assert statuses == [400, 400, 400, 400, 429]
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.7"}
    assert cache.get("throttle_token_203.0.113.7") and not cache.get("throttle_token_10.0.0.1")
    another_client = token_request("lead", PASSWORD, "10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.8")
    assert another_client.status_code == 200 and "token" in another_client.json()


def test_it_guesses_passwords_through_the_asgi_server(cast):  # noqa: ANN001
    """daphne runs the middleware chain asynchronously: the lockout page must come out of that path too."""
    from asgiref.sync import async_to_sync
    from django.test import AsyncClient

    client = AsyncClient()

    def attempt(password: str):  # noqa: ANN202
        data = {"username": "member", "password": password}
        return async_to_sync(client.post)("/accounts/login/", data, REMOTE_ADDR="192.0.2.70")

    assert [attempt(f"guess-{i}").status_code for i in range(4)] == [200] * 4
    assert_locked_page(attempt("guess-4"))
    assert_locked_page(attempt(PASSWORD))


def test_it_sends_a_username_too_long_to_record(cast, throttle_cleared):  # noqa: ANN001
    throttle_cleared("192.0.2.80")
    response = token_request("x" * 300, "guess", "192.0.2.80")

    assert response.status_code == 400  # refused by the input's limit, or recorded cut to the column: never a 500
    assert all(len(name) <= 255 for name in AccessAttempt.objects.values_list("username", flat=True))


def test_it_puts_garbage_where_the_proxy_writes_the_address(cast, settings, throttle_cleared):  # noqa: ANN001
    """A proxy that writes something else than an address (or one proxy fewer than configured) must not
    turn a login into a 500 or give each request its own key: the request counts against the proxy's address."""
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    throttle_cleared("10.0.0.2")
    statuses = [
        token_request("lead", f"guess-{i}", "10.0.0.2", HTTP_X_FORWARDED_FOR=f"client-{i}").status_code
        for i in range(5)
    ]

    assert statuses == [400, 400, 400, 400, 429]
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"10.0.0.2"}
