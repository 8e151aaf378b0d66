"""The offline provider gives tickets away: it is off unless DEBUG or named on purpose, every
entry point refuses it alike when off, and `check --deploy` warns when it is on in production
(issue #16, item 1)."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
from django.core import checks

from tests.factories import UserFactory
from tests.settings_probe import ROOT, readme_production_env, settings_under
from tests.ticketing.conftest import buy
from ticketing import services
from ticketing.models import Order
from ticketing.providers import providers_enabled_ids


def deploy_warnings(**overrides: Any) -> list[str]:
    from django.test import override_settings

    with override_settings(**overrides):
        found = checks.run_checks(include_deployment_checks=True, tags=[checks.Tags.security])
    return [message.id for message in found if message.id and message.id.startswith("ticketing.")]


def test_the_readme_production_values_enable_no_offline_provider():
    production = settings_under(readme_production_env())

    assert production["DEBUG"] is False
    assert "offline" not in production["PAYMENT_PROVIDERS"]


def test_offline_is_on_by_default_only_under_debug_and_an_explicit_value_wins():
    assert "offline" in settings_under({"DJANGO_DEBUG": "true"})["PAYMENT_PROVIDERS"]
    assert "offline" not in settings_under({})["PAYMENT_PROVIDERS"]
    explicit = settings_under({"PAYMENT_PROVIDERS": "offline"})["PAYMENT_PROVIDERS"]
    assert explicit == ["offline"]
    assert settings_under({"DJANGO_DEBUG": "true", "PAYMENT_PROVIDERS": "stripe"})[
        "PAYMENT_PROVIDERS"
    ] == ["stripe"]


def test_the_deploy_check_warns_of_offline_with_debug_off_only():
    assert deploy_warnings(DEBUG=False, PAYMENT_PROVIDERS=["offline", "stripe"]) == [
        "ticketing.W001"
    ]
    assert deploy_warnings(DEBUG=True, PAYMENT_PROVIDERS=["offline", "stripe"]) == []
    assert deploy_warnings(DEBUG=False, PAYMENT_PROVIDERS=["stripe"]) == []


def run_check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={**env, "PATH": os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_manage_py_check_deploy_warns_with_offline_explicitly_enabled():
    result = run_check_deploy({**readme_production_env(), "PAYMENT_PROVIDERS": "offline,stripe"})

    assert result.returncode != 0
    assert "ticketing.W001" in result.stdout + result.stderr


def test_manage_py_check_deploy_is_clean_with_the_readme_values():
    result = run_check_deploy(readme_production_env())

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.django_db
def test_checkout_with_offline_under_production_settings_is_refused(
    settings: Any, client_for: Any, space: Any
) -> None:
    settings.PAYMENT_PROVIDERS = settings_under(readme_production_env())["PAYMENT_PROVIDERS"]
    client = client_for(UserFactory())

    response = client.post(
        f"/api/v1/spaces/{space.pk}/tickets/checkout", {"provider": "offline"}, format="json"
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "unknown_provider"
    assert "offline" not in str(error["fields"])
    assert not Order.objects.exists()
    assert "offline" not in providers_enabled_ids()


@pytest.mark.django_db
def test_an_offline_order_left_from_before_cannot_be_settled_once_offline_is_off(
    settings: Any, client_for: Any, space: Any
) -> None:
    buyer = UserFactory()
    order, _ = services.ticket_reserve(buyer=buyer, space_id=space.pk, provider="offline")
    settings.PAYMENT_PROVIDERS = ["stripe"]

    api = client_for(buyer).post(
        f"/api/v1/orders/{order.pk}/offline", {"outcome": "confirm"}, format="json"
    )
    fail = client_for(buyer).post(
        f"/api/v1/orders/{order.pk}/offline", {"outcome": "fail"}, format="json"
    )
    site = client_for(buyer).post(f"/tickets/checkout/{order.pk}/", {"outcome": "confirm"})

    assert api.status_code == fail.status_code == 400
    assert api.json()["error"]["code"] == fail.json()["error"]["code"] == "unknown_provider"
    assert site.status_code == 302
    order.refresh_from_db()
    assert order.state == Order.State.RESERVED


@pytest.mark.django_db
def test_offline_still_works_where_it_is_enabled(space: Any) -> None:
    assert buy(space).state == Order.State.PAID
