"""/healthz, /readyz and /metrics of a web process (spaces_project/health.py), in both shapes."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
import redis
from asgiref.sync import async_to_sync
from django.conf import settings as django_settings
from django.test import AsyncClient, Client
from django.utils import timezone

from scheduling.models import Delivery
from spaces.audio import placement
from spaces_project import health, metrics
from tests.factories import SpaceFactory, UserFactory, join

pytestmark = pytest.mark.django_db

DEAD_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1


@pytest.fixture(autouse=True)
def _fresh_samples(settings):
    # Gauges read from the database are cached per process; each test reads them anew.
    settings.METRICS_SAMPLE_SECONDS = 0
    metrics.reset_cache()


def scrape(client: Client | None = None, **extra: str) -> str:
    response = (client or Client()).get("/metrics", **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return response.content.decode()


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in an exposition, or None when it is not there."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#") or " " not in line:
            continue
        key, value = line.rsplit(" ", 1)
        sample_name, _, rest = key.partition("{")
        found = ",".join(sorted(rest.rstrip("}").split(","))) if rest else ""
        if sample_name == name and found == wanted:
            return float(value)
    return None


# -- /healthz -----------------------------------------------------------------------------------


def test_healthz_answers_whatever_the_host_and_scheme(settings):
    # A load balancer probes by address in plain HTTP: no allowed Host, no HTTPS redirect.
    settings.SECURE_SSL_REDIRECT = True
    response = Client().get("/healthz", HTTP_HOST="10.9.8.7:8000")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "pid": os.getpid()}
    assert response["Cache-Control"] == "no-store"


def test_other_paths_still_check_the_host():
    assert Client().get("/", HTTP_HOST="10.9.8.7:8000").status_code == 400


# -- /readyz ------------------------------------------------------------------------------------


def test_readyz_lists_each_check_and_answers_200_when_all_pass(settings):
    settings.MEDIA_EMBEDDED = True  # the media worker check has its own test below
    response = Client().get("/readyz", HTTP_HOST="10.9.8.7")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] is True
    expected = {"database"} | ({"redis"} if django_settings.REDIS_URL else set())
    assert set(body["checks"]) == expected


def test_readyz_is_503_when_redis_does_not_answer(settings):
    settings.REDIS_URL = DEAD_REDIS
    response = Client().get("/readyz")
    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "fail"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["redis"]["ok"] is False
    assert "Error" in body["checks"]["redis"]["error"]


def test_readyz_is_503_when_the_database_check_fails(monkeypatch):
    def broken() -> None:
        raise RuntimeError("connection refused")

    monkeypatch.setattr(health, "database_ready", broken)
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == {
        "ok": False,
        "error": "RuntimeError: connection refused",
        "ms": response.json()["checks"]["database"]["ms"],
    }


def test_readyz_has_no_media_check_in_the_embedded_shape(settings):
    settings.MEDIA_EMBEDDED = True
    assert "media" not in Client().get("/readyz").json()["checks"]


def test_readyz_and_healthz_answer_through_the_async_path(settings):
    settings.MEDIA_EMBEDDED = True
    # Under Daphne the middleware runs async: /healthz on the loop, the checks on a thread.
    response = async_to_sync(AsyncClient().get)("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"]["database"]["ok"] is True
    assert async_to_sync(AsyncClient().get)("/healthz").status_code == 200


@pytest.mark.redis
def test_readyz_needs_a_registered_media_worker_when_media_runs_out_of_process(settings):
    settings.MEDIA_EMBEDDED = False
    body = Client().get("/readyz").json()
    assert body["checks"]["media"]["ok"] is False
    assert "no media worker" in body["checks"]["media"]["error"]
    assert Client().get("/readyz").status_code == 503

    client = redis.Redis.from_url(django_settings.REDIS_URL)
    info = placement.WorkerInfo(id="probe-worker", channel="specific.probe")
    try:
        client.set(placement.worker_key(info.id), info.dumps(), px=10_000)
        client.zadd(placement.load_key(), {info.id: 0})
        response = Client().get("/readyz")
        assert response.status_code == 200, response.content
        assert response.json()["checks"]["media"]["ok"] is True
        # Expired registration, a stale load entry: not a live worker.
        client.delete(placement.worker_key(info.id))
        assert Client().get("/readyz").status_code == 503
    finally:
        client.delete(placement.worker_key(info.id))
        client.zrem(placement.load_key(), info.id)
        client.close()


# -- /metrics: who may read it ------------------------------------------------------------------


def test_metrics_refuses_an_address_outside_the_allowed_ones():
    response = Client().get("/metrics", REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 403
    assert b"python_info" not in response.content


def test_metrics_answers_an_allowed_network(settings):
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8"]
    assert Client().get("/metrics", REMOTE_ADDR="10.20.30.40").status_code == 200
    assert Client().get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403


def test_metrics_answers_the_bearer_token_from_anywhere(settings):
    settings.METRICS_BEARER_TOKEN = "s3cret-token"
    far = {"REMOTE_ADDR": "203.0.113.9"}
    assert (
        Client().get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token", **far).status_code == 200
    )
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer wrong", **far).status_code == 403
    assert (
        Client().get("/metrics", HTTP_AUTHORIZATION="Basic s3cret-token", **far).status_code == 403
    )


def test_no_token_configured_means_no_token_accepted(settings):
    settings.METRICS_BEARER_TOKEN = ""
    response = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer ", REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 403


# -- /metrics: what it says ---------------------------------------------------------------------


def test_metrics_show_live_spaces_and_listeners_by_mode_after_a_join():
    before = scrape()
    space = SpaceFactory()
    join(space)
    join(space)
    text = scrape()
    assert sample(text, "spaces_live") == (sample(before, "spaces_live") or 0) + 1
    assert sample(text, "spaces_listeners", mode="webrtc") == 2
    assert sample(text, "spaces_listeners", mode="hls") == 0
    assert sample(text, "spaces_listeners", mode="hls_guest") == 0
    assert sample(text, "spaces_stage_members") == 1  # the host
    for name in ("spaces_hub_sockets", "spaces_hub_spaces"):
        assert sample(text, name) is not None, name


def test_metrics_count_requests_and_queries():
    client = Client()
    client.get("/healthz")
    text = scrape(client)
    # django-prometheus: its middleware and its database wrapper (whatever the engine).
    assert "django_http_requests_total_by_method_total" in text
    vendor = "postgresql" if django_settings.IS_POSTGRES else "sqlite"
    assert (sample(text, "django_db_execute_total", alias="default", vendor=vendor) or 0) > 0


def test_metrics_show_the_reminders_backlog_and_its_age():
    space = SpaceFactory()
    quiet = scrape()
    assert sample(quiet, "spaces_backlog", queue="reminders") == 0
    assert sample(quiet, "spaces_backlog_oldest_seconds", queue="reminders") == 0
    past = timezone.now() - timedelta(minutes=3)
    Delivery.objects.create(
        space=space,
        recipient=UserFactory(),
        kind=Delivery.Kind.REMINDER,
        version=1,
        due_at=past,
        next_attempt_at=past,
    )
    Delivery.objects.create(  # pushed back after a failure: not due yet
        space=space,
        recipient=UserFactory(),
        kind=Delivery.Kind.REMINDER,
        version=1,
        due_at=past,
        next_attempt_at=timezone.now() + timedelta(minutes=5),
    )
    text = scrape()
    assert sample(text, "spaces_backlog", queue="reminders") == 1
    assert (sample(text, "spaces_backlog_oldest_seconds", queue="reminders") or 0) >= 180


def test_a_backlog_that_fails_to_read_leaves_the_others():
    def broken() -> metrics.Backlog:
        raise RuntimeError("table missing")

    metrics.register_backlog("test_broken", broken)
    try:
        text = scrape()
    finally:
        metrics._backlogs.pop("test_broken", None)
    assert sample(text, "spaces_backlog", queue="test_broken") is None
    assert sample(text, "spaces_backlog", queue="reminders") is not None


def test_every_documented_metric_is_named_in_docs_operations():
    doc = (django_settings.BASE_DIR / "docs" / "operations.md").read_text()
    text = scrape()
    ours = {
        line.split()[2]
        for line in text.splitlines()
        if line.startswith("# TYPE ") and line.split()[2].startswith("spaces_")
    }
    assert ours, "no spaces_ metric in the exposition"
    missing = sorted(name for name in ours if f"`{name}" not in doc)
    assert not missing, f"not in docs/operations.md: {missing}"


def test_metrics_declare_the_histograms_of_the_hub_and_of_tasks():
    text = scrape()
    assert "# TYPE spaces_event_fanout_seconds histogram" in text
    assert "# TYPE spaces_celery_task_seconds histogram" in text
