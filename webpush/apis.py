"""The Web Push API under /api/v1/push/: the server's public VAPID key, and this device's
subscription (the browser's `PushSubscription.toJSON()`) stored or forgotten.

Thin entry points as in accounts/apis.py: a nested `InputSerializer` checks the JSON types, the
service checks the rest (the endpoint's host, the keys' bytes) and answers with stable codes.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from spaces_project.api import (
    WRITE_ERRORS,
    StrictCharField,
    StrictInputSerializer,
    StrictIntegerField,
    errors,
    request_user,
)
from webpush import services
from webpush.keys import vapid_keys

UNAVAILABLE = "`push_unavailable`: this server has no VAPID key, so push is off."
ENDPOINT_ERRORS = (
    "`invalid`: a field is missing, of the wrong type, too long or holds a NUL (see `fields`); "
    "`invalid_endpoint`: not an https URL; `endpoint_not_allowed`: not a push service this "
    "server sends to; `invalid_key`: `keys.p256dh` is not a P-256 public key or `keys.auth` "
    "not 16 bytes, in URL-safe base64; `malformed_request`: the body is not JSON."
)


class PushKeyApi(APIView):
    class OutputSerializer(serializers.Serializer):
        public_key = serializers.CharField(
            help_text="The VAPID public key, URL-safe base64 of the uncompressed P-256 point: "
            "`applicationServerKey` for `pushManager.subscribe()`."
        )

        class Meta:
            ref_name = "PushKey"

    @extend_schema(
        operation_id="push_key_retrieve",
        tags=["push"],
        summary="The server's public key for Web Push",
        description=(
            "The `applicationServerKey` a browser subscribes with. A subscription made with "
            "another key cannot receive this server's pushes."
        ),
        responses={200: OutputSerializer, **errors(401, e503=UNAVAILABLE)},
    )
    def get(self, request: Request) -> Response:
        return Response(self.OutputSerializer({"public_key": vapid_keys().public_key}).data)


class PushKeysInput(StrictInputSerializer):
    p256dh = StrictCharField(max_length=200, help_text="The browser's P-256 public key.")
    auth = StrictCharField(max_length=100, help_text="The 16-byte auth secret.")

    class Meta:
        ref_name = "PushSubscriptionKeys"


class PushSubscriptionApi(APIView):
    class InputSerializer(StrictInputSerializer):
        endpoint = StrictCharField(max_length=services.ENDPOINT_MAX_LENGTH)
        # The browser's toJSON() includes it; push services expire subscriptions by answering
        # 404 or 410, which drops them, so it is accepted and not kept.
        expirationTime = StrictIntegerField(  # the browser's own name
            required=False, allow_null=True, min_value=0
        )
        keys = PushKeysInput()

        class Meta:
            ref_name = "PushSubscriptionInput"

    class DeleteSerializer(StrictInputSerializer):
        endpoint = StrictCharField(max_length=services.ENDPOINT_MAX_LENGTH)

        class Meta:
            ref_name = "PushSubscriptionDelete"

    class OutputSerializer(serializers.Serializer):
        endpoint = serializers.CharField()
        user_agent = serializers.CharField(
            help_text='Which browser, as a label: "Chrome on Android".'
        )
        created_at = serializers.DateTimeField()

        class Meta:
            ref_name = "PushSubscription"

    @extend_schema(
        operation_id="push_subscription_create",
        tags=["push"],
        summary="Get push notifications on this device",
        description=(
            "Send the browser's `PushSubscription.toJSON()`: `{endpoint, expirationTime, keys: "
            "{p256dh, auth}}`. Idempotent on `endpoint` (201 when new, 200 when it was known; an "
            "endpoint another account had moves to yours). Pushes go to this device until you "
            "delete it or its push service says it is gone."
        ),
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            201: OutputSerializer,
            **errors(*WRITE_ERRORS, e400=ENDPOINT_ERRORS, e503=UNAVAILABLE),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        subscription, created = services.push_subscribe(
            user=request_user(request),
            endpoint=data["endpoint"],
            p256dh=data["keys"]["p256dh"],
            auth=data["keys"]["auth"],
            user_agent=services.user_agent_label(request.headers.get("User-Agent", "")),
        )
        return Response(
            self.OutputSerializer(subscription).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    @extend_schema(
        operation_id="push_subscription_delete",
        tags=["push"],
        summary="Stop push notifications on this device",
        description=(
            "Forget the subscription with this `endpoint`. 204 whether or not it was yours or "
            "known: the device stops getting pushes either way."
        ),
        request=DeleteSerializer,
        responses={204: None, **errors(*WRITE_ERRORS)},
    )
    def delete(self, request: Request) -> Response:
        serializer = self.DeleteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.push_unsubscribe(
            user=request_user(request), endpoint=serializer.validated_data["endpoint"]
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
