from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm

from accounts.models import DirectMessage, User
from spaces_project.timezones import zone_choices


class ProfileForm(forms.Form):
    """What a person edits about themselves. Saving goes through `user_update_profile`."""

    display_name = forms.CharField(
        label="Display name",
        max_length=User._meta.get_field("display_name").max_length,
        required=False,
        help_text="Shown instead of your username. Up to 50 characters.",
        widget=forms.TextInput(attrs={"autocomplete": "nickname"}),
    )
    bio = forms.CharField(
        label="Bio",
        max_length=User._meta.get_field("bio").max_length,
        required=False,
        help_text="A line or two about you. Up to 160 characters.",
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    email_notifications = forms.BooleanField(
        label="E-mail me about Space reminders and activity",
        required=False,
    )
    # A CharField, not a ChoiceField: the service checks the name (`invalid_time_zone`), so the
    # page says what the browser's guess would. Not posted (an older form): left as it is.
    time_zone = forms.CharField(
        label="Time zone",
        required=False,
        max_length=User._meta.get_field("time_zone").max_length,
        help_text="Scheduled Spaces are shown, and scheduled, in this time zone.",
        widget=forms.Select(choices=zone_choices(), attrs={"autocomplete": "off"}),
    )

    def clean_time_zone(self) -> str | None:
        return self.cleaned_data["time_zone"] or None


class MessageForm(forms.Form):
    """A reply in a direct-message thread. Sending goes through `direct_message_send`."""

    body = forms.CharField(
        label="Message",
        max_length=DirectMessage._meta.get_field("body").max_length,
        widget=forms.Textarea(
            attrs={"rows": 2, "placeholder": "Write a message", "autocomplete": "off"}
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
