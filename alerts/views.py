"""The site's go-live alert pages: the bell on a profile (a POST form) and Settings > Alerts.
Thin: each calls one service, which holds the rules."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import Follow
from accounts.selectors import user_get_active
from alerts import services
from alerts.forms import AlertSettingsForm, FollowAlertsForm
from spaces_project.errors import ApplicationError
from spaces_project.site import back, form_add_refusal, signed_in


@require_POST
@login_required
def profile_alerts(request: HttpRequest, username: str) -> HttpResponse:
    """The bell on someone you follow: all their Spaces, or none."""
    followee = user_get_active(username=username)
    form = FollowAlertsForm(request.POST)
    fallback = reverse("profile", args=[followee.username])
    if not form.is_valid():
        messages.error(request, _("Choose all Spaces or none."))
        return back(request, fallback)
    try:
        follow = services.follow_alerts_set(
            follower=signed_in(request), followee=followee, alerts=form.cleaned_data["alerts"]
        )
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        if follow.alerts == Follow.Alerts.ALL:
            # Typed, not escaped: xgettext reads no \u escapes, and the catalog must match.
            text = _("You’ll be told when %(name)s goes live.")  # noqa: RUF001
        else:
            text = _("You won’t be told when %(name)s goes live.")  # noqa: RUF001
        messages.success(request, text % {"name": followee.name})
    return back(request, fallback)


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def settings_alerts(request: HttpRequest) -> HttpResponse:
    """Go-live alerts on or off, and their e-mail."""
    user = signed_in(request)
    if request.method == "POST":
        form = AlertSettingsForm(request.POST)
        if form.is_valid():
            try:
                services.live_alert_settings_update(user=user, **form.cleaned_data)
            except ApplicationError as error:
                form_add_refusal(form, error)
            else:
                messages.success(request, _("Your alert settings are saved."))
                return redirect("settings_alerts")
    else:
        form = AlertSettingsForm(
            initial={"live_alerts": user.live_alerts, "live_alert_emails": user.live_alert_emails}
        )
    muted = Follow.objects.filter(follower=user, alerts=Follow.Alerts.NONE).count()
    return render(request, "alerts/settings_alerts.html", {"form": form, "muted": muted})
