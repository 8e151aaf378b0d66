"""Forms of the scheduling pages. They shape what a browser posts into a service's arguments;
the rules (the time window, title, topics, ticket bounds) are checked by the services, whose
refusal the view turns into form errors.

Times are typed and shown in the host's own zone (`User.time_zone`, activated for the request
by accounts/middleware.py and handed to the form as `zone`): the field reads a wall time, and
`aware_from_wall_time` turns it into a moment, refusing an hour the clocks skip or repeat.

Ticket prices are typed in the currency's units ("5.00") and turned into integer minor units
exactly, with Decimal and the currency's number of decimals from Babel: "5.001" is refused,
never rounded.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any

from babel.core import Locale, UnknownLocaleError
from babel.numbers import format_currency, get_currency_precision
from django import forms
from django.conf import settings
from django.core import validators
from django.urls import reverse
from django.utils import translation
from django.utils.formats import number_format
from django.utils.html import format_html
from django.utils.text import format_lazy
from django.utils.translation import gettext, gettext_lazy, ngettext

from spaces.forms import CLIPS_HELP, RECORDING_HELP
from spaces.models import MAX_TOPICS, TITLE_MAX_LENGTH, TOPIC_MAX_LENGTH, Space
from spaces_project.errors import ValidationFailed
from spaces_project.timezones import aware_from_wall_time, zone_abbreviation, zone_name

DATETIME_LOCAL = "%Y-%m-%dT%H:%M"
WALL_TIME_FORMATS = [DATETIME_LOCAL, "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
GUEST_SEPARATORS = re.compile(r"[\s,]+")
MAX_GUESTS_TEXT = 2000
PRICE_CEILING = Decimal(10**9)
TICKET_FIELDS = ("price", "currency", "capacity", "guests")


class WallTimeField(forms.DateTimeField):
    """A date and time as typed, with no zone: the form attaches the host's zone itself (the
    stock field would use the active zone and word a skipped hour vaguely)."""

    def to_python(self, value: Any) -> datetime | None:
        if value in self.empty_values:
            return None
        if isinstance(value, datetime):
            return value
        text = str(value).strip()
        for fmt in WALL_TIME_FORMATS:
            try:
                return datetime.strptime(text, fmt)
            except (ValueError, TypeError):
                continue
        raise forms.ValidationError(self.error_messages["invalid"], code="invalid")


def _zone_label(zone: tzinfo) -> str:
    """The zone's name and its abbreviation now: "America/New York, EST"."""
    name = zone_name(zone).replace("_", " ")
    return f"{name}, {zone_abbreviation(datetime.now(UTC).astimezone(zone))}"


def _currency_label(currency: str) -> str:
    return currency.upper()


def _money(minor: int, currency: str) -> str:
    """In the reader's language ("$5.00", "5,00 US$"), as ticketing's money_format."""
    code = currency.upper()
    language = translation.get_language() or settings.LANGUAGE_CODE
    try:
        locale = Locale.parse(translation.to_locale(language))
    except (UnknownLocaleError, ValueError):
        locale = Locale.parse("en_US")
    return format_currency(
        Decimal(minor).scaleb(-get_currency_precision(code)), code, locale=locale
    )


class ScheduleForm(forms.Form):
    title = forms.CharField(
        max_length=TITLE_MAX_LENGTH,
        label=gettext_lazy("What do you want to talk about?"),
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
        help_text=format_lazy(gettext_lazy("Up to {count} characters."), count=TITLE_MAX_LENGTH),
    )
    scheduled_for = WallTimeField(
        label=gettext_lazy("When"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DATETIME_LOCAL),
    )
    topics = forms.CharField(
        required=False,
        max_length=MAX_TOPICS * (TOPIC_MAX_LENGTH + 2),
        label=gettext_lazy("Topics"),
        widget=forms.TextInput(attrs={"placeholder": gettext_lazy("e.g. Music, Technology")}),
        help_text=format_lazy(
            gettext_lazy("Up to {count}, separated by commas."), count=MAX_TOPICS
        ),
    )
    speaking_policy = forms.ChoiceField(
        label=gettext_lazy("Who can ask to speak?"),
        choices=Space.SpeakingPolicy.choices,
        initial=Space.SpeakingPolicy.EVERYONE,
        widget=forms.RadioSelect,
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

    def __init__(self, *args: Any, zone: tzinfo = UTC, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.zone = zone
        field = self.fields["scheduled_for"]
        field.label = gettext("When (%(zone)s time)") % {"zone": zone_name(zone).replace("_", " ")}
        field.help_text = format_html(
            gettext(
                'In your time zone, {} (<a href="{}">change</a>). From {} minutes to {} days ahead.'
            ),
            _zone_label(zone),
            reverse("settings_profile"),
            settings.SPACES_SCHEDULE_MIN_LEAD_MINUTES,
            settings.SPACES_SCHEDULE_MAX_DAYS,
        )

    def clean_scheduled_for(self) -> datetime:
        value: datetime = self.cleaned_data["scheduled_for"]
        try:
            return aware_from_wall_time(value, self.zone).astimezone(UTC)
        except ValidationFailed as error:
            raise forms.ValidationError(error.fields["scheduled_for"][0], code=error.code) from None

    def clean_topics(self) -> list[str]:
        return [t.strip() for t in self.cleaned_data["topics"].split(",") if t.strip()]

    def service_kwargs(self) -> dict[str, Any]:
        return {name: self.cleaned_data[name] for name in ScheduleForm.base_fields}


class TicketedScheduleForm(ScheduleForm):
    """The schedule form with its "Sell tickets" section, for hosts who may sell
    (SPACES_TICKETED_MIN_FOLLOWERS). The ticket fields are named as ticketing's refusals name
    them (`price`, `capacity`, `currency`, `guests`), so a refusal lands beside its field."""

    # Price, currency and number are required to sell; without the box ticked, `clean` drops
    # whatever they say (the section is hidden then, and its errors would be too).
    sell_tickets = forms.BooleanField(label=gettext_lazy("Sell tickets"), required=False)
    price = forms.CharField(
        label=gettext_lazy("Price"),
        max_length=20,
        error_messages={"required": gettext_lazy("Give a price, e.g. 5.00.")},
        widget=forms.TextInput(attrs={"inputmode": "decimal", "placeholder": gettext_lazy("5.00")}),
    )
    currency = forms.ChoiceField(label=gettext_lazy("Currency"))
    capacity = forms.IntegerField(
        label=gettext_lazy("Tickets"),
        min_value=1,
        error_messages={"required": gettext_lazy("How many tickets?")},
        widget=forms.NumberInput(attrs={"placeholder": gettext_lazy("100")}),
    )
    guests = forms.CharField(
        label=gettext_lazy("Guest list"),
        required=False,
        max_length=MAX_GUESTS_TEXT,
        widget=forms.TextInput(
            attrs={"placeholder": gettext_lazy("@ada, @grace"), "autocomplete": "off"}
        ),
        help_text=gettext_lazy("Usernames, separated by commas. Guests enter without a ticket."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        currency = settings.TICKET_CURRENCY.lower()
        currency_field = self.fields["currency"]
        assert isinstance(currency_field, forms.ChoiceField)
        currency_field.choices = [(currency, _currency_label(currency))]
        currency_field.initial = currency
        self.fields["price"].help_text = gettext("From %(low)s to %(high)s.") % {
            "low": _money(settings.TICKET_PRICE_MIN, currency),
            "high": _money(settings.TICKET_PRICE_MAX, currency),
        }
        capacity = self.fields["capacity"]
        assert isinstance(capacity, forms.IntegerField)
        capacity.max_value = settings.TICKET_CAPACITY_MAX
        capacity.validators.append(validators.MaxValueValidator(settings.TICKET_CAPACITY_MAX))
        capacity.widget.attrs["max"] = settings.TICKET_CAPACITY_MAX
        capacity.help_text = gettext("Up to %(count)s.") % {
            "count": number_format(settings.TICKET_CAPACITY_MAX, force_grouping=True)
        }

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if not data.get("sell_tickets"):
            for name in TICKET_FIELDS:
                self.errors.pop(name, None)
                data.pop(name, None)
            return data
        if "price" not in self.errors and "currency" not in self.errors:
            try:
                data["price"] = price_to_minor(data["price"], data["currency"])
            except ValidationFailed as error:
                self.add_error("price", error.fields["price"])
        return data

    def clean_guests(self) -> list[str]:
        text: str = self.cleaned_data["guests"]
        return [name for name in GUEST_SEPARATORS.split(text) if name.strip().lstrip("@")]

    def ticket_kwargs(self) -> dict[str, Any] | None:
        """The terms for ticketing's `ticket_offer_open`, or None when not selling."""
        data = self.cleaned_data
        if not data.get("sell_tickets"):
            return None
        return {
            "price": data["price"],
            "capacity": data["capacity"],
            "currency": data["currency"],
            "guests": data["guests"],
        }


def price_to_minor(text: str, currency: str) -> int:
    """A price typed in `currency` ("5.00") in minor units (500), exactly. Not a number,
    negative, or more decimals than the currency has (Babel: USD 2, JPY 0): ValidationFailed
    on `price`. The bounds are ticketing's (its service checks them)."""
    digits = get_currency_precision(currency.upper())
    try:
        amount = Decimal(text.strip())
    except InvalidOperation:
        amount = Decimal("NaN")
    if not amount.is_finite() or amount < 0:
        message = gettext("Give a price as a number, e.g. 5.00.")
        raise ValidationFailed(message, fields={"price": [message]})
    # "1e999999" is a finite Decimal: bound it before scaling (the service checks the range).
    if amount > PRICE_CEILING:
        message = gettext("At most %(price)s.") % {
            "price": _money(settings.TICKET_PRICE_MAX, currency)
        }
        raise ValidationFailed(message, fields={"price": [message]})
    minor = amount.scaleb(digits)
    if minor != minor.to_integral_value():
        if digits:
            message = ngettext(
                "%(currency)s prices have %(count)s decimal.",
                "%(currency)s prices have %(count)s decimals.",
                digits,
            ) % {"currency": currency.upper(), "count": digits}
        else:
            message = gettext("%(currency)s prices have no decimals.") % {
                "currency": currency.upper()
            }
        raise ValidationFailed(message, fields={"price": [message]})
    return int(minor)


def initial_for(space: Space, zone: tzinfo = UTC) -> dict[str, Any]:
    assert space.scheduled_for is not None
    return {
        "title": space.title,
        "scheduled_for": space.scheduled_for.astimezone(zone).strftime(DATETIME_LOCAL),
        "topics": ", ".join(space.topics),
        "speaking_policy": space.speaking_policy,
        "recording_enabled": space.recording_enabled,
        "clips_enabled": space.clips_enabled,
    }
