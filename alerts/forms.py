from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.models import Follow


class AlertSettingsForm(forms.Form):
    """The switches of Settings > Alerts; `live_alert_settings_update` saves them."""

    live_alerts = forms.BooleanField(
        label=_("Tell me when people I follow go live"),
        required=False,
        help_text=_("In your notifications and as a push notification on devices you allowed."),
    )
    live_alert_emails = forms.BooleanField(
        label=_("Also by e-mail"),
        required=False,
        help_text=_("Only when e-mail notifications are on in your profile settings."),
    )


class FollowAlertsForm(forms.Form):
    """The bell on a profile; `follow_alerts_set` checks and saves it."""

    alerts = forms.ChoiceField(choices=Follow.Alerts.choices)
