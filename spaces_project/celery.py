import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spaces_project.settings")

app = Celery("spaces")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Task counters, and the worker's /metrics, /healthz and /readyz (CELERY_METRICS_PORT).
from spaces_project import taskmetrics  # noqa: E402, F401
