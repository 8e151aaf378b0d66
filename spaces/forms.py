"""Forms of the Spaces pages. They shape what a browser posts into the arguments of a service;
the rules themselves (title length, topic count, who may speak...) are checked again, and only
authoritatively, by the service, whose refusal the view turns into form errors."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

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
    Space.SpeakingPolicy.EVERYONE: gettext_lazy("Anyone listening can ask to speak."),
    Space.SpeakingPolicy.FOLLOWED_BY_HOST: gettext_lazy("Only people you follow can ask to speak."),
    Space.SpeakingPolicy.INVITED_ONLY: gettext_lazy(
        "Nobody can ask; you invite speakers yourself."
    ),
}

# The recording choices, worded once for Start a Space and the schedule form.
RECORDING_HELP = gettext_lazy(
    "Everyone sees a REC badge and each speaker can keep their voice out. "
    "The replay stays on your profile."
)
CLIPS_HELP = gettext_lazy("People who hear it can clip up to a minute and share it.")


class SpaceStartForm(forms.Form):
    title = forms.CharField(
        max_length=TITLE_MAX_LENGTH,
        label=gettext_lazy("What do you want to talk about?"),
        widget=forms.TextInput(
            attrs={"placeholder": gettext_lazy("Give your Space a title"), "autocomplete": "off"}
        ),
        help_text=format_lazy(gettext_lazy("Up to {count} characters."), count=TITLE_MAX_LENGTH),
    )
    topics = forms.CharField(
        required=False,
        max_length=MAX_TOPICS * (TOPIC_MAX_LENGTH + 2),
        label=gettext_lazy("Topics"),
        widget=forms.TextInput(
            attrs={"placeholder": gettext_lazy("e.g. Music, Technology"), "autocomplete": "off"}
        ),
        help_text=format_lazy(
            gettext_lazy("Up to {count}, separated by commas; helps people find your Space."),
            count=MAX_TOPICS,
        ),
    )
    speaking_policy = forms.ChoiceField(
        label=gettext_lazy("Who can speak?"),
        choices=Space.SpeakingPolicy.choices,
        initial=Space.SpeakingPolicy.EVERYONE,
        widget=forms.RadioSelect,
    )
    captions_enabled = forms.BooleanField(
        required=False,
        label=gettext_lazy("Show captions"),
        help_text=gettext_lazy("Speech is transcribed live for everyone in the Space."),
    )
    recording_enabled = forms.BooleanField(
        required=False,
        initial=True,
        label=gettext_lazy("Record this Space"),
        help_text=RECORDING_HELP,
    )
    clips_enabled = forms.BooleanField(
        required=False, initial=True, label=gettext_lazy("Allow clips"), help_text=CLIPS_HELP
    )

    def clean_title(self) -> str:
        return " ".join(self.cleaned_data["title"].split())

    def clean_topics(self) -> list[str]:
        raw = self.cleaned_data.get("topics") or ""
        topics = [" ".join(t.split()) for t in raw.split(",")]
        topics = [t for t in topics if t]
        if len(topics) > MAX_TOPICS:
            raise forms.ValidationError(_("At most %(count)s topics.") % {"count": MAX_TOPICS})
        for topic in topics:
            if len(topic) > TOPIC_MAX_LENGTH:
                raise forms.ValidationError(
                    _("Each topic has at most %(count)s characters.") % {"count": TOPIC_MAX_LENGTH}
                )
        return topics


_USERNAME_SPLIT = re.compile(r"[\s,]+")


class ShareForm(forms.Form):
    usernames = forms.CharField(
        required=False,
        max_length=1000,
        label=gettext_lazy("Send to"),
        widget=forms.TextInput(
            attrs={"placeholder": gettext_lazy("@grace, @linus"), "autocomplete": "off"}
        ),
        help_text=format_lazy(
            gettext_lazy("Usernames, up to {count}; each gets a direct message."),
            count=MAX_SHARE_RECIPIENTS,
        ),
    )
    to_followers = forms.BooleanField(
        required=False, label=gettext_lazy("Share with all my followers")
    )
    message = forms.CharField(
        required=False,
        max_length=280,
        label=gettext_lazy("Message"),
        widget=forms.TextInput(
            attrs={"placeholder": gettext_lazy("Listen with me"), "autocomplete": "off"}
        ),
    )

    def clean_usernames(self) -> list[str]:
        raw = self.cleaned_data.get("usernames") or ""
        names = [n.lstrip("@") for n in _USERNAME_SPLIT.split(raw)]
        names = list(dict.fromkeys(n for n in names if n))
        if len(names) > MAX_SHARE_RECIPIENTS:
            raise forms.ValidationError(
                _("At most %(count)s people at once.") % {"count": MAX_SHARE_RECIPIENTS}
            )
        return names

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if not self.errors and not data.get("usernames") and not data.get("to_followers"):
            raise forms.ValidationError(_("Choose people to send the Space to, or your followers."))
        return data


class ReportForm(forms.Form):
    reason = forms.ChoiceField(label=gettext_lazy("What is wrong?"), choices=Report.Reason.choices)
    details = forms.CharField(
        required=False,
        max_length=REPORT_DETAILS_MAX_LENGTH,
        label=gettext_lazy("Details"),
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
        label=gettext_lazy("Pin a post"),
        widget=forms.Textarea(
            attrs={"rows": 2, "placeholder": gettext_lazy("Share a link or a note")}
        ),
    )
    url = forms.URLField(
        required=False, max_length=500, assume_scheme="https", label=gettext_lazy("Link")
    )


class UsernameForm(forms.Form):
    """Invite someone to speak, or to co-host, by username."""

    username = forms.CharField(max_length=150, label=gettext_lazy("Username"))

    def clean_username(self) -> str:
        return self.cleaned_data["username"].strip().lstrip("@")
