"""The one check every service runs on text a person typed, before it is stored.

Serializers and forms refuse some of this already (DRF refuses NUL and surrogates), but the
socket and the site's action POSTs call the services directly: without this, a NUL reached
PostgreSQL (which refuses it in text and jsonb: a `DataError`, so a 500 or an `internal` socket
error) and a lone surrogate (valid in a Python str from `json.loads`, not in UTF-8) failed at
encoding. Checked in the service, every entry point answers the same 400 `invalid_text`.

Bidirectional embedding, override and isolate characters are removed from short labels
(titles, topics, names): one U+202E in a title or a display name reverses the text after it on
every page and notification that shows it, a known spoofing trick. Long free text keeps them;
there they are the writer's own business and stay inside an escaped block.
"""

from __future__ import annotations

import re
import unicodedata

from django.utils.translation import gettext

from spaces_project.errors import ValidationFailed

INVALID_TEXT = "invalid_text"

# U+202A..U+202E (LRE, RLE, PDF, LRO, RLO) and U+2066..U+2069 (LRI, RLI, FSI, PDI).
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
# Whitespace a person may type: collapsed to one space in a single line, kept in multiline text.
_TYPED_WHITESPACE = frozenset("\t\n\r")


def _refuse(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, code=INVALID_TEXT, fields={field: [message]})


def clean_text(
    value: object, *, field: str, multiline: bool = False, strip_bidi: bool = False
) -> str:
    """`value` made safe to store, or ValidationFailed(code=`invalid_text`) naming `field`.

    Refuses what is not a str, control characters (C0, DEL, C1: NUL among them) other than
    tab and line breaks, and lone surrogates. A single line has its whitespace runs collapsed
    to one space; multiline text keeps its lines (CRLF and CR become LF) and loses trailing
    spaces at both ends. `strip_bidi` removes bidirectional override and isolate characters.
    Blank and length rules stay with the caller, which knows the field's limits and wording.
    """
    if not isinstance(value, str):
        raise _refuse(field, gettext("Must be text."))
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _refuse(field, gettext("Contains characters that are not valid Unicode.")) from None
    if any(unicodedata.category(ch) == "Cc" and ch not in _TYPED_WHITESPACE for ch in value):
        raise _refuse(field, gettext("Contains control characters."))
    if strip_bidi:
        value = _BIDI_CONTROLS.sub("", value)
    if multiline:
        return value.replace("\r\n", "\n").replace("\r", "\n").strip()
    return " ".join(value.split())
