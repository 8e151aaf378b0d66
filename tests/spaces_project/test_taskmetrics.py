"""Celery's tasks on /metrics and the Celery worker's endpoint (spaces_project/taskmetrics.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from scheduling.tasks import scheduling_sweep
from spaces_project import taskmetrics

ROOT = Path(__file__).resolve().parents[2]


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture
def endpoint() -> Iterator[str]:
    server = taskmetrics.serve("127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.django_db(transaction=True)
def test_a_task_that_ran_is_counted_and_timed(endpoint: str, settings) -> None:
    settings.MEDIA_EMBEDDED = True
    name = "scheduling.tasks.scheduling_sweep"
    before = REGISTRY.get_sample_value(
        "spaces_celery_tasks_total", {"task": name, "outcome": "success"}
    )
    scheduling_sweep.apply()
    after = REGISTRY.get_sample_value(
        "spaces_celery_tasks_total", {"task": name, "outcome": "success"}
    )
    assert after == (before or 0) + 1
    status, body = get(f"{endpoint}/metrics")
    assert status == 200
    text = body.decode()
    assert f'spaces_celery_task_seconds_count{{task="{name}"}}' in text
    assert 'spaces_backlog{queue="reminders"}' in text  # the deployment's gauges come along


@pytest.mark.django_db(transaction=True)
def test_the_worker_endpoint_answers_health_and_readiness(endpoint: str, settings) -> None:
    settings.MEDIA_EMBEDDED = True
    assert json.loads(get(f"{endpoint}/healthz")[1]) == {"status": "ok", "pid": os.getpid()}
    status, body = get(f"{endpoint}/readyz")
    assert status == 200, body
    assert json.loads(body)["checks"]["database"]["ok"] is True
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    status, body = get(f"{endpoint}/readyz")
    assert status == 503
    assert json.loads(body)["checks"]["redis"]["ok"] is False
    assert get(f"{endpoint}/other")[0] == 404


PREFORK = textwrap.dedent(
    """
    import multiprocessing, os, django
    django.setup()
    from prometheus_client import generate_latest
    from spaces_project import taskmetrics

    def child():  # a prefork pool child: runs tasks, exits
        taskmetrics.TASKS.labels("probe.task", "success").inc(3)

    ctx = multiprocessing.get_context("fork")
    for _ in range(2):
        proc = ctx.Process(target=child)
        proc.start()
        proc.join()
        taskmetrics._child_gone(pid=proc.pid)
    print(generate_latest(taskmetrics.served_registry()).decode())
    """
)


def test_prefork_children_are_summed_in_multiprocess_mode(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "spaces_project.settings",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'unused.sqlite3'}",
        "REDIS_URL": "",
        "METRICS_SAMPLE_SECONDS": "0",
    }
    done = subprocess.run(
        [sys.executable, "-c", PREFORK],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert 'spaces_celery_tasks_total{outcome="success",task="probe.task"} 6.0' in done.stdout
