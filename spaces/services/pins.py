"""Pinned posts: hosts, co-hosts and speakers pin, at most MAX_PINS at once (counted on the
Space row under its lock); the author, the host or a co-host unpins."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from spaces import events
from spaces.access import access_space
from spaces.models import MAX_PINS, PIN_TEXT_MAX_LENGTH, Pin
from spaces.permissions import check_pin, check_unpin, ensure
from spaces.services.common import Action, _bump, _log
from spaces_project.errors import Conflict, NotFound, ValidationFailed
from spaces_project.text import clean_text


def pin_create(*, user: User, space_id: int, text: str, url: str = "") -> Pin:
    """Host, co-hosts and speakers pin a post; at most MAX_PINS at once (409 `too_many_pins`)."""
    text = clean_text(text, field="text", multiline=True)
    url = clean_text(url, field="url")
    if not text:
        raise ValidationFailed(
            _("A pin needs text."), fields={"text": [_("This field may not be blank.")]}
        )
    if len(text) > PIN_TEXT_MAX_LENGTH:
        raise ValidationFailed(
            _("The text is too long."),
            fields={"text": [_("At most %(count)s characters.") % {"count": PIN_TEXT_MAX_LENGTH}]},
        )
    if url:
        try:
            if len(url) > 500:
                raise DjangoValidationError("too long")
            URLValidator(schemes=["http", "https"])(url)
        except DjangoValidationError as exc:
            raise ValidationFailed(
                _("The link is not valid."),
                fields={
                    "url": [_("Enter a valid http:// or https:// URL (at most 500 characters).")]
                },
            ) from exc
    with transaction.atomic():
        space, me = access_space(user=user, space_id=space_id, lock=True)
        ensure(check_pin(space, me))
        if space.pin_count >= MAX_PINS:
            raise Conflict(
                _("At most %(count)s posts can be pinned; unpin one first.") % {"count": MAX_PINS},
                code="too_many_pins",
            )
        pin = Pin.objects.create(space=space, author=user, text=text, url=url)
        _bump(space, pin_count=1)
        events.publish(space, events.PIN_ADDED, pin=events.pin(pin))
    return pin


def pin_remove(*, user: User, space_id: int, pin_id: int) -> Pin:
    """Unpin: the author, the host or a co-host. Idempotent on an unpinned pin."""
    with transaction.atomic():
        space, me = access_space(user=user, space_id=space_id, lock=True)
        pin = Pin.objects.filter(pk=pin_id, space=space).select_related("author").first()
        if pin is None:
            raise NotFound(_("No such pin in this Space."), code="pin_not_found")
        ensure(check_unpin(space, me, author_id=pin.author_id))
        if pin.unpinned_at is not None:
            return pin
        pin.unpinned_at = timezone.now()
        pin.unpinned_by = user
        pin.save(update_fields=["unpinned_at", "unpinned_by"])
        _bump(space, pin_count=-1)
        if pin.author_id != user.pk:
            _log(space, user, Action.PIN_REMOVED, target=pin.author, pin_id=pin.pk, text=pin.text)
        events.publish(space, events.PIN_REMOVED, pin_id=pin.pk, by=events.user_brief(user))
    return pin
