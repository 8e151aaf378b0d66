"""The go-live alerts API under /api/v1/: the bell on someone you follow, and your switches.

| Method | Path                      | What                                                 |
|--------|---------------------------|------------------------------------------------------|
| GET    | users/{username}/alerts   | your bell on someone you follow: `all` or `none`     |
| PUT    | users/{username}/alerts   | set it                                               |
| GET    | me/alerts                 | go-live alerts on or off; their e-mail on or off     |
| PUT    | me/alerts                 | change either                                        |

Thin: each view checks the shape of its input, calls one service or selector, and answers in
one shape; the rules (only on someone you follow, the choices) are in alerts/services.py.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Follow, User
from accounts.selectors import user_get_active
from alerts import selectors, services
from spaces_project.api import (
    StrictBooleanField,
    StrictCharField,
    StrictInputSerializer,
    errors,
    request_user,
)
from spaces_project.errors import Conflict

TAGS = ["alerts"]

WRITE_400 = (
    "`invalid`: see `fields` (a wrong type, not a choice, an unknown field); "
    "`malformed_request`: the body is not JSON."
)
WRITE_403 = "`forbidden`: a write with the site session but without the CSRF token."


class FollowAlertsSerializer(serializers.Serializer):
    username = serializers.CharField(help_text="Whom you follow.")
    alerts = serializers.ChoiceField(
        choices=Follow.Alerts.choices,
        help_text="`all`: told each time they go live (inbox, push, e-mail if you chose it); "
        "`none`: never.",
    )

    class Meta:
        ref_name = "FollowAlerts"


class UserAlertsApi(APIView):
    class InputSerializer(StrictInputSerializer):
        alerts = StrictCharField(help_text="`all` or `none`.")

        class Meta:
            ref_name = "FollowAlertsUpdate"

    @staticmethod
    def _data(followee: User, alerts: str) -> dict[str, Any]:
        return FollowAlertsSerializer({"username": followee.username, "alerts": alerts}).data

    @extend_schema(
        operation_id="alerts_follow_retrieve",
        tags=TAGS,
        summary="Your bell on someone you follow",
        description=(
            "Whether you are told when they go live: `all` (the default for a new follow) or "
            "`none`. 409 `not_following` when you do not follow them; 404 `not_found` for an "
            "unknown or deactivated account."
        ),
        responses={
            200: FollowAlertsSerializer,
            **errors(401, 404, e409="`not_following`: follow them first."),
        },
    )
    def get(self, request: Request, username: str) -> Response:
        followee = user_get_active(username=username)
        alerts = selectors.follow_alerts_get(follower=request_user(request), followee=followee)
        if alerts is None:
            raise Conflict(_("Follow them first."), code="not_following")
        return Response(self._data(followee, alerts))

    @extend_schema(
        operation_id="alerts_follow_update",
        tags=TAGS,
        summary="Set your bell on someone you follow",
        description=(
            "`all`: each time they go live you get an inbox notification, a Web Push "
            "notification and, if you chose it in your alert settings, an e-mail; `none`: "
            "nothing (you still see them live on your home page). Only on someone you follow."
        ),
        request=InputSerializer,
        responses={
            200: FollowAlertsSerializer,
            **errors(
                401,
                404,
                413,
                415,
                429,
                e400=WRITE_400,
                e403=WRITE_403,
                e409="`not_following`: follow them first.",
            ),
        },
    )
    def put(self, request: Request, username: str) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        followee = user_get_active(username=username)
        follow = services.follow_alerts_set(
            follower=request_user(request), followee=followee, alerts=data.validated_data["alerts"]
        )
        return Response(self._data(followee, follow.alerts))


class AlertSettingsSerializer(serializers.Serializer):
    live_alerts = serializers.BooleanField(
        help_text="Told when people you follow go live (each follow's bell still applies)."
    )
    live_alert_emails = serializers.BooleanField(
        help_text="Those alerts by e-mail too (off until you turn it on; needs "
        "`email_notifications` on your account)."
    )

    class Meta:
        ref_name = "AlertSettings"


class MeAlertsApi(APIView):
    class InputSerializer(StrictInputSerializer):
        live_alerts = StrictBooleanField(required=False)
        live_alert_emails = StrictBooleanField(required=False)

        class Meta:
            ref_name = "AlertSettingsUpdate"

    @extend_schema(
        operation_id="alerts_settings_retrieve",
        tags=TAGS,
        summary="Your go-live alert switches",
        description=(
            "`live_alerts`: whether you are told at all when people you follow go live; "
            "`live_alert_emails`: whether by e-mail too."
        ),
        responses={200: AlertSettingsSerializer, **errors(401)},
    )
    def get(self, request: Request) -> Response:
        return Response(AlertSettingsSerializer(request_user(request)).data)

    @extend_schema(
        operation_id="alerts_settings_update",
        tags=TAGS,
        summary="Turn go-live alerts, or their e-mail, on or off",
        description=(
            "Change either switch (JSON `true` or `false`); what you leave out stays as it is, "
            "and unknown fields are refused. Answers as `GET`."
        ),
        request=InputSerializer,
        responses={
            200: AlertSettingsSerializer,
            **errors(401, 413, 415, 429, e400=WRITE_400, e403=WRITE_403),
        },
    )
    def put(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.live_alert_settings_update(
            user=request_user(request), **data.validated_data
        )
        return Response(AlertSettingsSerializer(user).data)
