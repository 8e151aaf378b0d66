"""The go-live alerts backlog on /metrics (alerts/metrics.py)."""

from __future__ import annotations

import pytest

from alerts.metrics import golive_backlog
from alerts.models import GoLiveAlert, GoLiveChunk
from spaces_project import metrics
from tests.factories import SpaceFactory

pytestmark = pytest.mark.django_db


def test_running_fan_outs_and_unsent_chunks_are_the_backlog():
    assert "golive_alerts" in metrics._backlogs
    assert golive_backlog().count == 0
    space = SpaceFactory()
    alert = GoLiveAlert.objects.create(space=space, host=space.host)
    GoLiveChunk.objects.create(alert=alert, after_id=0, last_id=10)  # push and e-mail pending
    GoLiveChunk.objects.create(
        alert=alert, after_id=10, last_id=20, push_state="sent", email_state="sent"
    )
    backlog = golive_backlog()
    assert backlog.count == 2  # the running alert and its unsent chunk
    assert backlog.oldest_seconds >= 0
    GoLiveAlert.objects.filter(pk=alert.pk).update(status=GoLiveAlert.Status.DONE)
    GoLiveChunk.objects.filter(alert=alert).update(push_state="sent", email_state="lost")
    assert golive_backlog().count == 0
