from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.utils.translation import gettext_lazy
from django.utils.translation import gettext_lazy as _

from accounts.models import DirectMessage, User
from spaces_project.timezones import zone_choices


def language_choices() -> list[tuple[str, Any]]:
    """Each language named in itself ("Español"), after the choice of leaving it to the
    browser."""
    return [("", _("Same as the browser")), *settings.LANGUAGES]


class ProfileForm(forms.Form):
    """What a person edits about themselves. Saving goes through `user_update_profile`."""

    display_name = forms.CharField(
        label=gettext_lazy("Display name"),
        max_length=User._meta.get_field("display_name").max_length,
        required=False,
        help_text=gettext_lazy("Shown instead of your username. Up to 50 characters."),
        widget=forms.TextInput(attrs={"autocomplete": "nickname"}),
    )
    bio = forms.CharField(
        label=gettext_lazy("Bio"),
        max_length=User._meta.get_field("bio").max_length,
        required=False,
        help_text=gettext_lazy("A line or two about you. Up to 160 characters."),
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    email_notifications = forms.BooleanField(
        label=gettext_lazy("E-mail me about Space reminders and activity"),
        required=False,
    )
    # A CharField, not a ChoiceField: the service checks the name (`invalid_time_zone`), so the
    # page says what the browser's guess would. Not posted (an older form): left as it is.
    time_zone = forms.CharField(
        label=gettext_lazy("Time zone"),
        required=False,
        max_length=User._meta.get_field("time_zone").max_length,
        help_text=gettext_lazy("Scheduled Spaces are shown, and scheduled, in this time zone."),
        widget=forms.Select(choices=zone_choices(), attrs={"autocomplete": "off"}),
    )

    # Blank is a choice ("Same as the browser"); a form posted without the field keeps the
    # setting. The service checks the code (`invalid_language`).
    language = forms.CharField(
        label=_("Language"),
        required=False,
        max_length=User._meta.get_field("language").max_length,
        help_text=_("The language of the site and of the e-mails we send you."),
        # A callable: the label of the blank choice is translated when the page is drawn.
        widget=forms.Select(choices=language_choices, attrs={"autocomplete": "off"}),  # type: ignore[arg-type]
    )

    def clean_time_zone(self) -> str | None:
        return self.cleaned_data["time_zone"] or None

    def clean_language(self) -> str | None:
        if self.add_prefix("language") not in self.data:
            return None
        return self.cleaned_data["language"]


class MessageForm(forms.Form):
    """A reply in a direct-message thread. Sending goes through `direct_message_send`."""

    body = forms.CharField(
        label=gettext_lazy("Message"),
        max_length=DirectMessage._meta.get_field("body").max_length,
        widget=forms.Textarea(
            attrs={"rows": 2, "placeholder": gettext_lazy("Write a message"), "autocomplete": "off"}
        ),
    )


class SpacesUserCreationForm(AdminUserCreationForm):
    class Meta(AdminUserCreationForm.Meta):
        model = User
        fields = ("username", "email")


class SpacesUserChangeForm(UserChangeForm):
    class Meta(UserChangeForm.Meta):
        model = User
        fields = "__all__"
