"""Money for people: integer minor units with a currency code (STYLE.md, habit 15) shown in the
reader's locale with Babel ("$5.00", "5,00 €", "¥500"), and a decimal typed by a person turned
back into minor units. Babel knows each currency's number of decimals (JPY has none)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from babel.core import Locale, UnknownLocaleError
from babel.numbers import format_currency, get_currency_precision
from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from spaces_project.errors import ValidationFailed


def _locale(locale: str | None) -> Locale:
    name = translation.to_locale(locale or translation.get_language() or settings.LANGUAGE_CODE)
    try:
        return Locale.parse(name)
    except (UnknownLocaleError, ValueError):
        return Locale.parse("en_US")


def money_format(amount: int, currency: str, *, locale: str | None = None) -> str:
    """`amount` minor units of `currency` as a person reads it in `locale` (default: the active
    language)."""
    code = currency.upper()
    major = Decimal(amount).scaleb(-get_currency_precision(code))
    return format_currency(major, code, locale=_locale(locale))


def money_to_minor(value: Decimal | str, currency: str, *, field: str = "price") -> int:
    """A decimal amount of `currency` ("5", "5.00") in minor units (500). More decimals than the
    currency has is refused (400 `invalid`, on `field`) rather than rounded silently."""
    digits = get_currency_precision(currency.upper())
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        amount = Decimal("NaN")
    if not amount.is_finite() or amount < 0:
        raise ValidationFailed(
            _("That amount is not a price."), fields={field: [_("Give a price.")]}
        )
    minor = amount.scaleb(digits)
    if minor != minor.to_integral_value():
        raise ValidationFailed(
            _("That amount has too many decimals."),
            fields={field: [_("At most %(count)s decimals.") % {"count": digits}]},
        )
    return int(minor)
