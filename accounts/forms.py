from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm

from accounts.models import User


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


class SpacesUserCreationForm(AdminUserCreationForm):
    class Meta(AdminUserCreationForm.Meta):
        model = User
        fields = ("username", "email")


class SpacesUserChangeForm(UserChangeForm):
    class Meta(UserChangeForm.Meta):
        model = User
        fields = "__all__"
