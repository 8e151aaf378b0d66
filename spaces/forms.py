"""Forms of the Spaces pages. They shape what a browser posts into the arguments of a service;
the rules themselves (title length, topic count, who may speak...) are checked again, and only
authoritatively, by the service, whose refusal the view turns into form errors."""

from __future__ import annotations

import re
from typing import Any

from django import forms

from spaces.models import (
    MAX_TOPICS,
    PIN_TEXT_MAX_LENGTH,
    TITLE_MAX_LENGTH,
    TOPIC_MAX_LENGTH,
    Report,
    Space,
)
from spaces.services import MAX_SHARE_RECIPIENTS, REPORT_DETAILS_MAX_LENGTH

SPEAKING_HELP = {
    Space.SpeakingPolicy.EVERYONE: "Anyone listening can ask to speak.",
    Space.SpeakingPolicy.FOLLOWED_BY_HOST: "Only people you follow can ask to speak.",
    Space.SpeakingPolicy.INVITED_ONLY: "Nobody can ask; you invite speakers yourself.",
}

# The recording choices, worded once for Start a Space and the schedule form.
RECORDING_HELP = (
    "Everyone sees a REC badge and each speaker can keep their voice out. "
    "The replay stays on your profile."
)
CLIPS_HELP = "People who hear it can clip up to a minute and share it."


class SpaceStartForm(forms.Form):
    title = forms.CharField(
        max_length=TITLE_MAX_LENGTH,
        label="What do you want to talk about?",
        widget=forms.TextInput(
            attrs={"placeholder": "Give your Space a title", "autocomplete": "off"}
        ),
        help_text=f"Up to {TITLE_MAX_LENGTH} characters.",
    )
    topics = forms.CharField(
        required=False,
        max_length=MAX_TOPICS * (TOPIC_MAX_LENGTH + 2),
        label="Topics",
        widget=forms.TextInput(
            attrs={"placeholder": "e.g. Music, Technology", "autocomplete": "off"}
        ),
        help_text=f"Up to {MAX_TOPICS}, separated by commas; helps people find your Space.",
    )
    speaking_policy = forms.ChoiceField(
        label="Who can speak?",
        choices=Space.SpeakingPolicy.choices,
        initial=Space.SpeakingPolicy.EVERYONE,
        widget=forms.RadioSelect,
    )
    captions_enabled = forms.BooleanField(
        required=False,
        label="Show captions",
        help_text="Speech is transcribed live for everyone in the Space.",
    )
    recording_enabled = forms.BooleanField(
        required=False,
        initial=True,
        label="Record this Space",
        help_text=RECORDING_HELP,
    )
    clips_enabled = forms.BooleanField(
        required=False, initial=True, label="Allow clips", help_text=CLIPS_HELP
    )

    def clean_title(self) -> str:
        return " ".join(self.cleaned_data["title"].split())

    def clean_topics(self) -> list[str]:
        raw = self.cleaned_data.get("topics") or ""
        topics = [" ".join(t.split()) for t in raw.split(",")]
        topics = [t for t in topics if t]
        if len(topics) > MAX_TOPICS:
            raise forms.ValidationError(f"At most {MAX_TOPICS} topics.")
        for topic in topics:
            if len(topic) > TOPIC_MAX_LENGTH:
                raise forms.ValidationError(
                    f"Each topic has at most {TOPIC_MAX_LENGTH} characters."
                )
        return topics


_USERNAME_SPLIT = re.compile(r"[\s,]+")


class ShareForm(forms.Form):
    usernames = forms.CharField(
        required=False,
        max_length=1000,
        label="Send to",
        widget=forms.TextInput(attrs={"placeholder": "@grace, @linus", "autocomplete": "off"}),
        help_text=f"Usernames, up to {MAX_SHARE_RECIPIENTS}; each gets a direct message.",
    )
    to_followers = forms.BooleanField(required=False, label="Share with all my followers")
    message = forms.CharField(
        required=False,
        max_length=280,
        label="Message",
        widget=forms.TextInput(attrs={"placeholder": "Listen with me", "autocomplete": "off"}),
    )

    def clean_usernames(self) -> list[str]:
        raw = self.cleaned_data.get("usernames") or ""
        names = [n.lstrip("@") for n in _USERNAME_SPLIT.split(raw)]
        names = list(dict.fromkeys(n for n in names if n))
        if len(names) > MAX_SHARE_RECIPIENTS:
            raise forms.ValidationError(f"At most {MAX_SHARE_RECIPIENTS} people at once.")
        return names

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if not self.errors and not data.get("usernames") and not data.get("to_followers"):
            raise forms.ValidationError("Choose people to send the Space to, or your followers.")
        return data


class ReportForm(forms.Form):
    reason = forms.ChoiceField(label="What is wrong?", choices=Report.Reason.choices)
    details = forms.CharField(
        required=False,
        max_length=REPORT_DETAILS_MAX_LENGTH,
        label="Details",
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    # Bounded like the API's ids: a larger number made SQLite raise OverflowError (a 500).
    target = forms.IntegerField(
        required=False, min_value=1, max_value=2**53 - 1, widget=forms.HiddenInput
    )
    # Set by a comment's "Report" button: the comment reported (its author is the target).
    comment_id = forms.IntegerField(
        required=False, min_value=1, max_value=2**53 - 1, widget=forms.HiddenInput
    )


class PinForm(forms.Form):
    text = forms.CharField(
        max_length=PIN_TEXT_MAX_LENGTH,
        label="Pin a post",
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "Share a link or a note"}),
    )
    url = forms.URLField(required=False, max_length=500, assume_scheme="https", label="Link")


class UsernameForm(forms.Form):
    """Invite someone to speak, or to co-host, by username."""

    username = forms.CharField(max_length=150, label="Username")

    def clean_username(self) -> str:
        return self.cleaned_data["username"].strip().lstrip("@")
