"""The ticketing API under /api/v1/. Thin entry points over ticketing/services.py and
selectors.py, in the shape of spaces/apis/: strict nested input serializers, the one error
shape. Money is always an integer in minor units with its currency.

| method and path                           | does                                         |
|-------------------------------------------|----------------------------------------------|
| POST  spaces/ticketed                     | schedule a ticketed Space                    |
| GET   spaces/{id}/tickets                 | the offer: price, seats left, on sale, mine  |
| PATCH spaces/{id}/tickets                 | host: price, capacity, sales close           |
| POST  spaces/{id}/tickets/checkout        | reserve a seat and get the payment URL       |
| GET   spaces/{id}/tickets/report          | host: sold, gross, platform fee, net         |
| PUT/DELETE spaces/{id}/tickets/guests/{user_id} | host: enter without a ticket           |
| GET   orders/{id}                         | one of my orders                             |
| POST  orders/{id}/offline                 | offline provider: confirm or fail on the spot|
| GET   tickets/mine                        | my tickets and open orders                   |
| POST  payments/stripe/webhook             | Stripe's webhook (signature checked)         |
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from spaces.models import MAX_TOPICS, TITLE_MAX_LENGTH, TOPIC_MAX_LENGTH, Space
from spaces_project.api import (
    CreatedCursorPagination,
    StrictBooleanField,
    StrictCharField,
    StrictDateTimeField,
    StrictInputSerializer,
    StrictIntegerField,
    errors,
    json_error,
    paginated_response,
    request_user,
)
from ticketing import selectors, services
from ticketing.providers import WebhookRejected, provider_get, providers_enabled_ids

TAGS = ["tickets"]


# --- Output -------------------------------------------------------------------------------------


class OfferSerializer(serializers.Serializer):
    space_id = serializers.IntegerField(source="space.pk")
    title = serializers.CharField(source="space.title")
    host = serializers.CharField(source="space.host.username")
    scheduled_for = serializers.DateTimeField(source="space.scheduled_for")
    state = serializers.CharField(source="space.state")
    price = serializers.IntegerField(source="offer.price", help_text="Minor units.")
    currency = serializers.CharField(source="offer.currency")
    capacity = serializers.IntegerField(source="offer.capacity")
    sold = serializers.IntegerField(source="offer.sold")
    taken = serializers.IntegerField(help_text="Paid tickets plus unexpired reservations.")
    available = serializers.IntegerField()
    sales_close_at = serializers.DateTimeField(allow_null=True)
    on_sale = serializers.BooleanField()
    my_order_id = serializers.SerializerMethodField()
    providers = serializers.SerializerMethodField()

    class Meta:
        ref_name = "TicketOffer"

    def get_my_order_id(self, view: selectors.OfferView) -> int | None:
        return view.my_order.pk if view.my_order is not None else None

    def get_providers(self, view: selectors.OfferView) -> list[str]:
        return providers_enabled_ids()


class OrderSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    space_id = serializers.IntegerField(source="offer_id")
    title = serializers.CharField(source="offer.space.title")
    scheduled_for = serializers.DateTimeField(source="offer.space.scheduled_for")
    state = serializers.CharField(
        help_text="`reserved`, `paid` (a ticket), `failed`, `expired`, `cancelled`, `refunded`."
    )
    amount = serializers.IntegerField(help_text="Minor units.")
    currency = serializers.CharField()
    provider = serializers.CharField()
    checkout_url = serializers.CharField(help_text="Where to pay (while `reserved`).")
    expires_at = serializers.DateTimeField(help_text="The reservation lapses at this time.")
    paid_at = serializers.DateTimeField(allow_null=True)
    failure_reason = serializers.CharField()

    class Meta:
        ref_name = "TicketOrder"


class ReportSerializer(serializers.Serializer):
    space_id = serializers.IntegerField()
    title = serializers.CharField()
    currency = serializers.CharField()
    capacity = serializers.IntegerField()
    sold = serializers.IntegerField(help_text="Paid tickets not refunded.")
    refunded = serializers.IntegerField()
    gross = serializers.IntegerField(help_text="Minor units.")
    platform_fee = serializers.IntegerField(help_text="gross * fee_bps / 10000, half up.")
    net = serializers.IntegerField(help_text="gross - platform_fee.")
    fee_bps = serializers.IntegerField()

    class Meta:
        ref_name = "TicketSalesReport"


def _offer(request: Request, space_id: int) -> dict[str, Any]:
    return OfferSerializer(
        selectors.offer_detail(viewer=request_user(request), space_id=space_id)
    ).data


# --- Views --------------------------------------------------------------------------------------

_E404 = "`tickets_not_found`: the Space does not exist or sells no tickets."


class TicketedSpaceCreateApi(APIView):
    class InputSerializer(StrictInputSerializer):
        title = StrictCharField(max_length=TITLE_MAX_LENGTH)
        scheduled_for = StrictDateTimeField()
        topics = serializers.ListField(
            child=StrictCharField(max_length=TOPIC_MAX_LENGTH),
            max_length=MAX_TOPICS,
            required=False,
            default=list,
        )
        speaking_policy = serializers.ChoiceField(
            choices=Space.SpeakingPolicy.choices,
            required=False,
            default=Space.SpeakingPolicy.EVERYONE,
        )
        price = StrictIntegerField(help_text="Minor units (TICKET_PRICE_MIN to _MAX).")
        currency = StrictCharField(max_length=3, required=False)
        capacity = StrictIntegerField(help_text="Number of tickets.")
        sales_close_at = StrictDateTimeField(required=False, allow_null=True)
        recording_enabled = StrictBooleanField(
            required=False,
            default=True,
            help_text="Record it once live (each stage member may still keep their voice out).",
        )
        clips_enabled = StrictBooleanField(
            required=False, default=True, help_text="Let ticket holders clip it."
        )

        class Meta:
            ref_name = "TicketedSpaceCreate"

    @extend_schema(
        operation_id="ticketed_spaces_create",
        tags=TAGS,
        summary="Schedule a ticketed Space",
        description=(
            "Schedule a Space that sells tickets: the fields of a scheduled Space plus `price` "
            "(minor units of `currency`), `capacity` (tickets) and, optionally, `sales_close_at`. "
            "Needs more followers than a free Space (403 `not_enough_followers_to_sell`). Answers "
            "with the offer."
        ),
        request=InputSerializer,
        responses={
            201: OfferSerializer,
            **errors(
                401,
                415,
                e400="`invalid`: see `fields` (price, capacity, currency, times).",
                e403="`not_enough_followers_to_sell`, `not_enough_followers`",
                e409="`too_many_upcoming`",
            ),
        },
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        space = services.ticketed_space_create(host=request_user(request), **data.validated_data)
        return Response(_offer(request, space.pk), status=status.HTTP_201_CREATED)


class OfferApi(APIView):
    class InputSerializer(StrictInputSerializer):
        price = StrictIntegerField(required=False)
        capacity = StrictIntegerField(required=False)
        sales_close_at = StrictDateTimeField(required=False, allow_null=True)

        class Meta:
            ref_name = "TicketOfferUpdate"

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            if not attrs:
                raise serializers.ValidationError(_("Give at least one field to change."))
            return attrs

    @extend_schema(
        operation_id="ticket_offer_retrieve",
        tags=TAGS,
        summary="The tickets of a Space",
        description=(
            "The tickets of a Space: price, capacity, seats sold, taken and left, whether they are "
            "on sale, the payment providers enabled and your open order, if any. 404 "
            "`tickets_not_found` when the Space sells no tickets."
        ),
        responses={200: OfferSerializer, **errors(401, e404=_E404)},
    )
    def get(self, request: Request, space_id: int) -> Response:
        return Response(_offer(request, space_id))

    @extend_schema(
        operation_id="ticket_offer_update",
        tags=TAGS,
        summary="Change price, number of tickets or sales close (host)",
        description=(
            "The host changes the price, the number of tickets or when sales close, before the "
            "Space starts; send only what changes (at least one field). Changes that contradict "
            "tickets already sold are 409 (`price_below_sold`, `capacity_below_sold`)."
        ),
        request=InputSerializer,
        responses={
            200: OfferSerializer,
            **errors(
                401,
                415,
                e400="`invalid`",
                e403="`not_host`",
                e404="`space_not_found`, `tickets_not_found`",
                e409=(
                    "`price_below_sold`, `capacity_below_sold`, `space_started`, "
                    "`space_cancelled`, `space_ended`"
                ),
            ),
        },
    )
    def patch(self, request: Request, space_id: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.ticket_offer_update(
            actor=request_user(request), space_id=space_id, **data.validated_data
        )
        return Response(_offer(request, space_id))


class CheckoutApi(APIView):
    class InputSerializer(StrictInputSerializer):
        provider = StrictCharField(help_text="`offline` or `stripe` (PAYMENT_PROVIDERS).")

        class Meta:
            ref_name = "TicketCheckout"

    @extend_schema(
        operation_id="ticket_checkout",
        tags=TAGS,
        summary="Reserve a seat and get where to pay",
        description=(
            "Reserve a seat and get where to pay: the seat is held for TICKET_RESERVATION_MINUTES; "
            "pay at `checkout_url`, then follow the order (`GET /api/v1/orders/{id}`). 201 with a "
            "new reservation; 200 with your reservation still open. 409 when sales are closed, it "
            "is sold out or you have a ticket; 502 when the provider fails (the seat is released)."
        ),
        request=InputSerializer,
        responses={
            200: OrderSerializer,
            201: OrderSerializer,
            **errors(
                401,
                415,
                e400="`unknown_provider`",
                e403="`own_space`: you host it; `blocked`: the host blocked you.",
                e404=_E404,
                e409="`sales_closed`, `sold_out`, `already_has_ticket`",
                e502="`payment_provider_error`: the provider failed; the seat is released.",
            ),
        },
    )
    def post(self, request: Request, space_id: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        order, created = services.ticket_checkout_start(
            buyer=request_user(request),
            space_id=space_id,
            provider=data.validated_data["provider"],
            return_url=request.build_absolute_uri("/tickets/"),
        )
        return Response(
            OrderSerializer(order).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class ReportApi(APIView):
    @extend_schema(
        operation_id="ticket_sales_report",
        tags=TAGS,
        summary="Sales report (host)",
        description=(
            "For the host: tickets sold and refunded, gross, the platform fee and net, in minor "
            "units of the offer's currency."
        ),
        responses={200: ReportSerializer, **errors(401, e403="`not_host`", e404=_E404)},
    )
    def get(self, request: Request, space_id: int) -> Response:
        report = selectors.sales_report(actor=request_user(request), space_id=space_id)
        return Response(ReportSerializer(report).data)


class GuestApi(APIView):
    @extend_schema(
        operation_id="ticket_guest_add",
        tags=TAGS,
        summary="Let someone in without a ticket (host): a co-host or speaker to be",
        description=(
            "The host lets a user into a ticketed Space without a ticket, for example a co-host or "
            "speaker to be. Idempotent: 204 whether or not they were already a guest."
        ),
        request=None,
        responses={
            204: None,
            **errors(401, e400="`cannot_target_self`", e403="`not_host`", e404="`user_not_found`"),
        },
    )
    def put(self, request: Request, space_id: int, user_id: int) -> Response:
        services.ticket_guest_set(
            actor=request_user(request), space_id=space_id, user_id=user_id, admit=True
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        operation_id="ticket_guest_remove",
        tags=TAGS,
        summary="Take a guest off the list (host)",
        description=(
            "The host takes a user off the guest list. Idempotent: 204 whether or not they were a "
            "guest."
        ),
        request=None,
        responses={204: None, **errors(401, e403="`not_host`", e404="`user_not_found`")},
    )
    def delete(self, request: Request, space_id: int, user_id: int) -> Response:
        services.ticket_guest_set(
            actor=request_user(request), space_id=space_id, user_id=user_id, admit=False
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class OrderApi(APIView):
    @extend_schema(
        operation_id="ticket_order_retrieve",
        tags=TAGS,
        summary="One of your orders",
        description=(
            "One of your orders, to follow a payment: `reserved` until paid or lapsed, then `paid` "
            "(a ticket), `failed`, `expired`, `cancelled` or `refunded`. Others' orders are 404 "
            "`order_not_found`."
        ),
        responses={200: OrderSerializer, **errors(401, e404="`order_not_found`")},
    )
    def get(self, request: Request, order_id: int) -> Response:
        order = selectors.order_get_for(buyer=request_user(request), order_id=order_id)
        return Response(OrderSerializer(order).data)


class OfflineSettleApi(APIView):
    class InputSerializer(StrictInputSerializer):
        outcome = serializers.ChoiceField(choices=["confirm", "fail"])

        class Meta:
            ref_name = "TicketOfflineSettle"

    @extend_schema(
        operation_id="ticket_order_offline",
        tags=TAGS,
        summary="Offline provider: pay or fail on the spot",
        description=(
            "For the offline provider (development and demos): settle your reserved order on the "
            "spot, `confirm` (you get the ticket) or `fail` (only where DEBUG is on: 403 "
            "`debug_only` otherwise). 409 `wrong_provider` for another provider's order, "
            "`order_not_open` when it is no longer reserved."
        ),
        request=InputSerializer,
        responses={
            200: OrderSerializer,
            **errors(
                401,
                415,
                e400="`invalid`, `unknown_provider` (offline not enabled)",
                e403="`debug_only` (`fail` without DEBUG)",
                e404="`order_not_found`",
                e409="`wrong_provider`, `order_not_open`",
            ),
        },
    )
    def post(self, request: Request, order_id: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        order = services.order_offline_settle(
            buyer=request_user(request), order_id=order_id, outcome=data.validated_data["outcome"]
        )
        order = selectors.order_get_for(buyer=request_user(request), order_id=order.pk)
        return Response(OrderSerializer(order).data)


class MyTicketsApi(APIView):
    # Declared so the schema documents the cursor page the view answers (not a bare array).
    pagination_class = CreatedCursorPagination

    @extend_schema(
        operation_id="tickets_mine",
        tags=TAGS,
        summary="Your tickets and open orders, newest first",
        description=(
            "Your orders, newest first, cursor-paged: paid ones are your tickets, reserved ones "
            "still wait for payment."
        ),
        responses={200: OrderSerializer(many=True), **errors(401)},
    )
    def get(self, request: Request) -> Response:
        return paginated_response(
            paginator=self.pagination_class(),
            queryset=selectors.tickets_of(user=request_user(request)),
            request=request,
            view=self,
            serialize=lambda rows: OrderSerializer(rows, many=True).data,
        )


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> JsonResponse:
    """Stripe's webhook: no session, the signature is the authentication. 400 in the shared
    error shape for a bad or stale signature; 200 for a duplicate (nothing changes)."""
    provider = provider_get("stripe", enabled_only=False)
    try:
        event = provider.handle_webhook(payload=request.body, headers=request.headers)
    except WebhookRejected as exc:
        return json_error(exc.code, exc.message, exc.status)
    result = services.webhook_receive(provider="stripe", event=event)
    return JsonResponse({"received": True, "result": result})
