"""Forms of the replay pages. They shape what a browser posts into a service's arguments; the
rules (the range inside the replay, at most a minute, clips turned off) are the service's."""

from __future__ import annotations

from django import forms

from replays.models import (
    CLIP_TITLE_MAX_LENGTH,
    PODCAST_DESCRIPTION_MAX_LENGTH,
    PODCAST_TITLE_MAX_LENGTH,
    PodcastFeed,
)
from replays.services import MAX_CLIP_SECONDS

# Far past any replay, and small enough that milliseconds stay an exact integer.
MAX_SECONDS = 10**7


class ClipForm(forms.Form):
    """A range of a replay, in seconds as the player shows them. (A live clip posts no range:
    the last seconds of the Space.)"""

    start = forms.FloatField(
        min_value=0,
        max_value=MAX_SECONDS,
        label="From (seconds)",
        widget=forms.NumberInput(attrs={"step": "0.1", "inputmode": "decimal"}),
    )
    end = forms.FloatField(
        min_value=0,
        max_value=MAX_SECONDS,
        label="To (seconds)",
        widget=forms.NumberInput(attrs={"step": "0.1", "inputmode": "decimal"}),
        help_text=f"At most {MAX_CLIP_SECONDS} seconds.",
    )
    title = forms.CharField(
        required=False,
        max_length=CLIP_TITLE_MAX_LENGTH,
        label="Title",
        widget=forms.TextInput(attrs={"autocomplete": "off", "placeholder": "What was said"}),
    )

    def range_ms(self) -> tuple[int, int]:
        return round(self.cleaned_data["start"] * 1000), round(self.cleaned_data["end"] * 1000)


class PodcastForm(forms.Form):
    """The host's podcast settings; `podcast_feed_update` checks and saves them."""

    enabled = forms.BooleanField(label="Publish my replays as a podcast", required=False)
    title = forms.CharField(
        required=False,
        max_length=PODCAST_TITLE_MAX_LENGTH,
        label="Podcast title",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    description = forms.CharField(
        required=False,
        max_length=PODCAST_DESCRIPTION_MAX_LENGTH,
        label="Description",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What podcast apps show under the title.",
    )
    category = forms.ChoiceField(
        choices=PodcastFeed.Category.choices,
        label="Category",
        help_text="Where podcast directories file it.",
    )
    explicit = forms.BooleanField(label="Mark it as explicit", required=False)
