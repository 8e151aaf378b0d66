"""Behind a TLS proxy every connection comes from the proxy. Forwarded addresses are believed
only as far as SPACES_TRUSTED_PROXIES says, by allauth's limits and the API's throttle alike
(issue #16, item 7)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from allauth.account.adapter import get_adapter
from django.test import Client, RequestFactory
from rest_framework.request import Request

from spaces.management.commands.serve import daphne_options
from spaces_project.drf import WriteRateThrottle
from tests.factories import PASSWORD, UserFactory
from tests.settings_probe import readme_production_env, settings_under

LOGIN = "/_allauth/app/v1/auth/login"
PROXY = "10.0.0.1"


def use_proxy_settings(settings: Any, env: dict[str, str]) -> None:
    """Apply what settings.py derives from `env` for client addresses to the running settings."""
    derived = settings_under(env)
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = derived.get("ALLAUTH_TRUSTED_PROXY_COUNT", 0)
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "NUM_PROXIES": derived["REST_FRAMEWORK"].get("NUM_PROXIES"),
    }
    settings.SPACES_TRUSTED_PROXIES = derived.get("SPACES_TRUSTED_PROXIES", 0)


def addresses(remote: str, forwarded: str | None) -> tuple[str, str]:
    """(allauth's client address, the API throttle's) for one request."""
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    request = RequestFactory().post("/api/v1/anything", **extra)  # type: ignore[arg-type]
    return (
        get_adapter(request).get_client_ip(request),
        WriteRateThrottle().get_ident(Request(request)),
    )


def failed_logins_then_login(client: Client, *, count: int, **addr: str) -> None:
    for n in range(count):
        client.post(
            LOGIN,
            json.dumps({"username": f"nobody{n}", "password": "wrong-password"}),
            content_type="application/json",
            **addr,  # type: ignore[arg-type]
        )


def login(client: Client, username: str, **addr: str) -> int:
    response = client.post(
        LOGIN,
        json.dumps({"username": username, "password": PASSWORD}),
        content_type="application/json",
        **addr,  # type: ignore[arg-type]
    )
    return response.status_code


def test_the_readme_production_values_trust_one_proxy_everywhere():
    production = settings_under(readme_production_env())

    assert production["SPACES_TRUSTED_PROXIES"] == 1
    assert production["ALLAUTH_TRUSTED_PROXY_COUNT"] == 1
    assert production["REST_FRAMEWORK"]["NUM_PROXIES"] == 1
    assert production["SECURE_PROXY_SSL_HEADER"] == ("HTTP_X_FORWARDED_PROTO", "https")


def test_with_no_proxy_configured_forwarded_addresses_are_ignored_by_every_limit(settings):
    use_proxy_settings(settings, {})

    assert addresses("203.0.113.66", "203.0.113.7") == ("203.0.113.66", "203.0.113.66")
    assert addresses("203.0.113.66", None) == ("203.0.113.66", "203.0.113.66")


@pytest.mark.parametrize(
    ("env", "forwarded", "client"),
    [
        # One proxy appends the address it saw; whatever the client wrote before it is ignored.
        ({"DJANGO_BEHIND_PROXY": "true"}, "198.51.100.9", "198.51.100.9"),
        ({"DJANGO_BEHIND_PROXY": "true"}, "6.6.6.6, 198.51.100.9", "198.51.100.9"),
        ({"SPACES_TRUSTED_PROXIES": "2"}, "6.6.6.6, 198.51.100.9, 10.0.0.2", "198.51.100.9"),
    ],
)
def test_with_trusted_proxies_every_limit_takes_the_address_the_outermost_proxy_saw(
    settings, env, forwarded, client
):
    use_proxy_settings(settings, env)

    assert addresses(PROXY, forwarded) == (client, client)


@pytest.mark.django_db
def test_with_no_proxy_configured_a_spoofed_address_locks_out_only_the_spoofer(settings):
    use_proxy_settings(settings, {})
    victim = UserFactory()
    attacker, other = Client(), Client()

    failed_logins_then_login(
        attacker, count=11, REMOTE_ADDR="203.0.113.66", HTTP_X_FORWARDED_FOR="203.0.113.7"
    )

    assert login(attacker, victim.username, REMOTE_ADDR="203.0.113.66") != 200
    assert login(other, victim.username, REMOTE_ADDR="203.0.113.7") == 200


@pytest.mark.django_db
def test_behind_the_proxy_two_clients_are_limited_separately(settings):
    use_proxy_settings(settings, readme_production_env())
    victim = UserFactory()
    attacker, other = Client(), Client()

    failed_logins_then_login(
        attacker, count=11, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="198.51.100.66"
    )

    assert (
        login(attacker, victim.username, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="198.51.100.66")
        != 200
    )
    assert (
        login(other, victim.username, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="198.51.100.7") == 200
    )


def test_serve_starts_daphne_with_proxy_headers_only_behind_trusted_proxies(settings):
    settings.SPACES_TRUSTED_PROXIES = 0
    assert daphne_options(["-v", "1"]) == ["-v", "1"]
    settings.SPACES_TRUSTED_PROXIES = 1
    assert daphne_options(["-v", "1"]) == ["--proxy-headers", "-v", "1"]
    assert daphne_options(["--proxy-headers"]) == ["--proxy-headers"]
