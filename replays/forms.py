"""Forms of the replay pages. They shape what a browser posts into a service's arguments; the
rules (the range inside the replay, at most a minute, clips turned off) are the service's."""

from __future__ import annotations

from django import forms
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy

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
        label=gettext_lazy("From (seconds)"),
        widget=forms.NumberInput(attrs={"step": "0.1", "inputmode": "decimal"}),
    )
    end = forms.FloatField(
        min_value=0,
        max_value=MAX_SECONDS,
        label=gettext_lazy("To (seconds)"),
        widget=forms.NumberInput(attrs={"step": "0.1", "inputmode": "decimal"}),
        help_text=format_lazy(gettext_lazy("At most {count} seconds."), count=MAX_CLIP_SECONDS),
    )
    title = forms.CharField(
        required=False,
        max_length=CLIP_TITLE_MAX_LENGTH,
        label=gettext_lazy("Title"),
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "placeholder": gettext_lazy("What was said")}
        ),
    )

    def range_ms(self) -> tuple[int, int]:
        return round(self.cleaned_data["start"] * 1000), round(self.cleaned_data["end"] * 1000)


class PodcastForm(forms.Form):
    """The host's podcast settings; `podcast_feed_update` checks and saves them."""

    enabled = forms.BooleanField(
        label=gettext_lazy("Publish my replays as a podcast"), required=False
    )
    title = forms.CharField(
        required=False,
        max_length=PODCAST_TITLE_MAX_LENGTH,
        label=gettext_lazy("Podcast title"),
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    description = forms.CharField(
        required=False,
        max_length=PODCAST_DESCRIPTION_MAX_LENGTH,
        label=gettext_lazy("Description"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy("What podcast apps show under the title."),
    )
    category = forms.ChoiceField(
        choices=PodcastFeed.Category.choices,
        label=gettext_lazy("Category"),
        help_text=gettext_lazy("Where podcast directories file it."),
    )
    explicit = forms.BooleanField(label=gettext_lazy("Mark it as explicit"), required=False)
