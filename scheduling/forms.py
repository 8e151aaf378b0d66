"""Forms of the scheduling pages. They shape what a browser posts into a service's arguments;
the rules (the time window, title, topics) are checked by the service, whose refusal the view
turns into form errors. Times are entered and shown in UTC (the site has no time zone setting).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django import forms

from spaces.models import MAX_TOPICS, TITLE_MAX_LENGTH, TOPIC_MAX_LENGTH, Space

DATETIME_LOCAL = "%Y-%m-%dT%H:%M"


class ScheduleForm(forms.Form):
    title = forms.CharField(
        max_length=TITLE_MAX_LENGTH,
        label="What do you want to talk about?",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
        help_text=f"Up to {TITLE_MAX_LENGTH} characters.",
    )
    scheduled_for = forms.DateTimeField(
        label="When (UTC)",
        input_formats=[DATETIME_LOCAL, "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DATETIME_LOCAL),
        help_text="From 15 minutes to 14 days from now, in UTC.",
    )
    topics = forms.CharField(
        required=False,
        max_length=MAX_TOPICS * (TOPIC_MAX_LENGTH + 2),
        label="Topics",
        widget=forms.TextInput(attrs={"placeholder": "e.g. Music, Technology"}),
        help_text=f"Up to {MAX_TOPICS}, separated by commas.",
    )
    speaking_policy = forms.ChoiceField(
        label="Who can ask to speak?",
        choices=Space.SpeakingPolicy.choices,
        initial=Space.SpeakingPolicy.EVERYONE,
        widget=forms.RadioSelect,
    )

    def clean_scheduled_for(self) -> datetime:
        value: datetime = self.cleaned_data["scheduled_for"]
        # The field read the input in the current time zone (UTC); say so explicitly.
        return value.astimezone(UTC)

    def clean_topics(self) -> list[str]:
        return [t.strip() for t in self.cleaned_data["topics"].split(",") if t.strip()]

    def service_kwargs(self) -> dict[str, Any]:
        return dict(self.cleaned_data)


def initial_for(space: Space) -> dict[str, Any]:
    assert space.scheduled_for is not None
    return {
        "title": space.title,
        "scheduled_for": space.scheduled_for.astimezone(UTC).strftime(DATETIME_LOCAL),
        "topics": ", ".join(space.topics),
        "speaking_policy": space.speaking_policy,
    }
