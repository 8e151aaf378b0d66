"""The card image of a Space's link preview (spaces/previews.py): public, cached, 404 for a
viewer the host blocked."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_safe

from spaces.previews import space_card, space_card_max_age, space_for_preview
from spaces_project.errors import NotFound
from spaces_project.previews import card_response


@require_safe
def space_card_image(request: HttpRequest, space_id: int) -> HttpResponse:
    viewer = request.user if request.user.is_authenticated else None
    try:
        space = space_for_preview(viewer=viewer, space_id=space_id)
    except NotFound as error:
        raise Http404(error.message) from error
    return card_response(request, space_card(space), max_age=space_card_max_age(space))
