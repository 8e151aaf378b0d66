"""The Spaces API for the stage: raised hands, invitations, acting on participants (demote,
mute, remove, block, co-host revoke) and your own mic and place."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from spaces import selectors, services
from spaces.apis.base import (
    MODERATE_403,
    NOT_LIVE,
    TAGS,
    Api,
    OldestFirstPagination,
    errors,
    participant_data,
    write_errors,
)
from spaces.models import Invitation, Participant
from spaces.serializers import (
    InvitationSerializer,
    ParticipantSerializer,
    SpeakerRequestSerializer,
)
from spaces_project.api import (
    StrictCharField,
    StrictInputSerializer,
    StrictIntegerField,
    request_user,
)


class RequestListApi(Api):
    pagination_class = OldestFirstPagination

    @extend_schema(
        operation_id="spaces_requests_list",
        tags=TAGS,
        summary="Raised hands, oldest first (host and co-hosts)",
        description=(
            "The open raised hands, oldest first, cursor-paged: for the host and co-hosts (403 "
            "`not_moderator`). The `space.state` snapshot carries only the oldest 100; this list "
            "has them all."
        ),
        responses={
            200: SpeakerRequestSerializer(many=True),
            **errors(401, 404, e403="`not_moderator`", e409=NOT_LIVE),
        },
    )
    def get(self, request: Request, space_id: int) -> Response:
        qs = selectors.speaker_requests_pending(viewer=request_user(request), space_id=space_id)
        return self.paginated(qs, lambda rows: SpeakerRequestSerializer(rows, many=True).data)

    @extend_schema(
        operation_id="spaces_requests_create",
        tags=TAGS,
        summary="Raise your hand (request to speak)",
        description=(
            "Raise your hand to ask to speak; the host and co-hosts see it at once. 201 when "
            "raised, 200 with the open request when your hand was already up. Join first (403 "
            "`not_in_space`); the Space's speaking setting may refuse you (403 "
            "`speaking_invite_only`, `speaking_followed_only`); 409 `already_speaker` when you are "
            "on stage."
        ),
        request=None,
        responses={
            201: SpeakerRequestSerializer,
            200: SpeakerRequestSerializer,
            **write_errors(
                e403=(
                    "`not_in_space`: join first; `speaking_invite_only`, "
                    "`speaking_followed_only`: the Space's speaking setting refuses you."
                ),
                e409="`already_speaker`: you are on stage; `stage_locked`: the host locked the "
                f"stage; {NOT_LIVE}.",
            ),
        },
    )
    def post(self, request: Request, space_id: int) -> Response:
        speaker_request, created = services.speaker_request_create(
            user=request_user(request), space_id=space_id
        )
        return Response(
            SpeakerRequestSerializer(speaker_request).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class RequestMineApi(Api):
    @extend_schema(
        operation_id="spaces_requests_withdraw",
        tags=TAGS,
        summary="Lower your hand",
        description="Lower your raised hand. Idempotent: 204 also when your hand was not up.",
        responses={204: None, **write_errors(e403="`not_in_space`", e409=NOT_LIVE)},
    )
    def delete(self, request: Request, space_id: int) -> Response:
        services.speaker_request_withdraw(user=request_user(request), space_id=space_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RequestApproveApi(Api):
    @extend_schema(
        operation_id="spaces_requests_approve",
        tags=TAGS,
        summary="Bring a requester on stage (host or co-host)",
        description=(
            "The host or a co-host brings a requester on stage as a speaker; answers with their "
            "new place. 409 `stage_full` when every speaker slot is taken, `not_in_space` when "
            "they left, and `request_not_pending` for a request already answered (by anyone), so "
            "two moderators approving at once learn who won."
        ),
        request=None,
        responses={
            200: ParticipantSerializer,
            **write_errors(
                e403=MODERATE_403,
                e404="`space_not_found`; `request_not_found`: not a request of this Space.",
                e409=(
                    f"`stage_full`; `request_not_pending`; `not_in_space`: the requester left; "
                    f"`already_speaker`; {NOT_LIVE}."
                ),
            ),
        },
    )
    def post(self, request: Request, space_id: int, request_id: int) -> Response:
        participant = services.speaker_request_approve(
            actor=request_user(request), space_id=space_id, request_id=request_id
        )
        return Response(participant_data(participant))


class RequestDenyApi(Api):
    @extend_schema(
        operation_id="spaces_requests_deny",
        tags=TAGS,
        summary="Deny a request to speak (host or co-host)",
        description=(
            "The host or a co-host declines a raised hand; the requester stays in the audience. "
            "409 `request_not_pending` when it was already answered, withdrawn or cancelled."
        ),
        request=None,
        responses={
            200: SpeakerRequestSerializer,
            **write_errors(
                e403=MODERATE_403,
                e404="`space_not_found`; `request_not_found`.",
                e409=f"`request_not_pending`; {NOT_LIVE}.",
            ),
        },
    )
    def post(self, request: Request, space_id: int, request_id: int) -> Response:
        speaker_request = services.speaker_request_deny(
            actor=request_user(request), space_id=space_id, request_id=request_id
        )
        return Response(SpeakerRequestSerializer(speaker_request).data)


class InvitationCreateApi(Api):
    class InputSerializer(StrictInputSerializer):
        user_id = StrictIntegerField(min_value=1, help_text="A participant present in the Space.")
        # Validated by the service; a plain string here keeps one `kind` enum in the schema.
        kind = StrictCharField(
            required=False,
            default=Invitation.Kind.SPEAKER,
            help_text="`speaker` (default) or `cohost`.",
        )

        class Meta:
            ref_name = "SpaceInvitationCreate"

    @extend_schema(
        operation_id="spaces_invitations_create",
        tags=TAGS,
        summary="Invite a participant to speak (host or co-host) or to co-host (host)",
        description=(
            "Invite someone present in the Space to speak (the host or a co-host) or, with `kind` "
            "`cohost`, to co-host (the host only). 201 when new; 200 with the open invitation when "
            "one exists. The slots are checked again when they accept."
        ),
        request=InputSerializer,
        responses={
            201: InvitationSerializer,
            200: InvitationSerializer,
            **write_errors(
                e400="`invalid`; `cannot_target_self`.",
                e403=f"{MODERATE_403} `host_only`: only the host invites co-hosts.",
                e404="`space_not_found`; `participant_not_found`: never joined this Space.",
                e409=(
                    f"`stage_full`; `cohosts_full`; `already_speaker`; `already_cohost`; "
                    f"`not_in_space`: they left; {NOT_LIVE}."
                ),
            ),
        },
    )
    def post(self, request: Request, space_id: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        invitation, created = services.invitation_create(
            actor=request_user(request),
            space_id=space_id,
            invitee_id=data.validated_data["user_id"],
            kind=data.validated_data["kind"],
        )
        return Response(
            InvitationSerializer(invitation).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


_INVITATION_404 = "`space_not_found`; `invitation_not_found`: not your invitation in this Space."


class InvitationAcceptApi(Api):
    @extend_schema(
        operation_id="spaces_invitations_accept",
        tags=TAGS,
        summary="Accept an invitation to speak or to co-host",
        description=(
            "Accept an open invitation addressed to you: you go on stage as a speaker, or become a "
            "co-host; answers with your new place. You must be in the Space (403 `not_in_space`); "
            "409 when the slots are full or the invitation was already answered or taken back."
        ),
        request=None,
        responses={
            200: ParticipantSerializer,
            **write_errors(
                e403="`not_in_space`: join first.",
                e404=_INVITATION_404,
                e409=(
                    f"`invitation_not_pending`; `stage_full`; `cohosts_full`; `already_speaker`; "
                    f"`already_cohost`; {NOT_LIVE}."
                ),
            ),
        },
    )
    def post(self, request: Request, space_id: int, invitation_id: int) -> Response:
        participant = services.invitation_accept(
            user=request_user(request), space_id=space_id, invitation_id=invitation_id
        )
        return Response(participant_data(participant))


class InvitationDeclineApi(Api):
    @extend_schema(
        operation_id="spaces_invitations_decline",
        tags=TAGS,
        summary="Decline an invitation",
        description=(
            "Decline an open invitation addressed to you; nothing else changes. 409 "
            "`invitation_not_pending` when it was already answered or taken back."
        ),
        request=None,
        responses={
            200: InvitationSerializer,
            **write_errors(e404=_INVITATION_404, e409="`invitation_not_pending`"),
        },
    )
    def post(self, request: Request, space_id: int, invitation_id: int) -> Response:
        invitation = services.invitation_decline(
            user=request_user(request), space_id=space_id, invitation_id=invitation_id
        )
        return Response(InvitationSerializer(invitation).data)


class InvitationDetailApi(Api):
    @extend_schema(
        operation_id="spaces_invitations_cancel",
        tags=TAGS,
        summary="Take back an open invitation (host or co-host; co-host ones: host)",
        description=(
            "Take back an invitation that is still open: the host or a co-host for an invitation "
            "to speak, the host for one to co-host. 409 `invitation_not_pending` when it was "
            "already answered."
        ),
        responses={
            200: InvitationSerializer,
            **write_errors(
                e403=f"{MODERATE_403} `host_only`.",
                e404="`space_not_found`; `invitation_not_found`.",
                e409=f"`invitation_not_pending`; {NOT_LIVE}.",
            ),
        },
    )
    def delete(self, request: Request, space_id: int, invitation_id: int) -> Response:
        invitation = services.invitation_cancel(
            actor=request_user(request), space_id=space_id, invitation_id=invitation_id
        )
        return Response(InvitationSerializer(invitation).data)


class _ParticipantActionApi(Api):
    service: Callable[..., Participant]

    def post(self, request: Request, space_id: int, user_id: int) -> Response:
        participant = type(self).service(
            actor=request_user(request), space_id=space_id, user_id=user_id
        )
        return Response(participant_data(participant))


_TARGET_ERRORS = {
    "e400": "`cannot_target_self`.",
    "e404": "`space_not_found`; `participant_not_found`: never joined this Space.",
}


def _participant_action(
    operation_id: str, summary: str, *, description: str, e403: str, e409: str
) -> Any:
    return extend_schema_view(
        post=extend_schema(
            operation_id=operation_id,
            tags=TAGS,
            summary=summary,
            description=description,
            request=None,
            responses={
                200: ParticipantSerializer,
                **write_errors(**_TARGET_ERRORS, e403=e403, e409=e409),
            },
        )
    )


_ACT_ON_403 = "`not_moderator`; `cannot_target_host`; `host_only`: only the host acts on a co-host."


@_participant_action(
    "spaces_participants_demote",
    "Move a speaker (or, for the host, a co-host) to the audience",
    description=(
        "Move someone from the stage to the audience: the host or a co-host moves a speaker, only "
        "the host moves a co-host (403 `host_only`), and nobody moves the host (403 "
        "`cannot_target_host`). Answers with their new place."
    ),
    e403=_ACT_ON_403,
    e409=f"`not_on_stage`; {NOT_LIVE}.",
)
class ParticipantDemoteApi(_ParticipantActionApi):
    service = staticmethod(services.participant_demote)


@_participant_action(
    "spaces_participants_mute",
    "Mute someone on stage (host or co-host)",
    description=(
        "The host or a co-host mutes someone on stage; only they can unmute themselves. Muting "
        "someone muted changes nothing. Only the host mutes a co-host, and nobody mutes the host."
    ),
    e403=_ACT_ON_403,
    e409=f"`not_on_stage`; {NOT_LIVE}.",
)
class ParticipantMuteApi(_ParticipantActionApi):
    service = staticmethod(services.participant_mute)


@_participant_action(
    "spaces_participants_unmute",
    "Unmute: only for yourself",
    description=(
        "Unmute yourself, with your own user id (as `POST .../me/unmute`). Anyone else, the host "
        "included, gets 403 `only_self_unmute` (as on X)."
    ),
    e403="`only_self_unmute`; `not_in_space`.",
    e409=f"`not_on_stage`; {NOT_LIVE}.",
)
class ParticipantUnmuteApi(_ParticipantActionApi):
    service = staticmethod(services.participant_unmute)


@_participant_action(
    "spaces_participants_remove",
    "Remove a participant; they cannot rejoin this Space (host or co-host)",
    description=(
        "The host or a co-host removes a participant from the Space: off the stage and out, and "
        "they cannot rejoin it (403 `removed`). Only the host removes a co-host; nobody removes "
        "the host. Removing someone already removed changes nothing."
    ),
    e403=_ACT_ON_403,
    e409=NOT_LIVE,
)
class ParticipantRemoveApi(_ParticipantActionApi):
    service = staticmethod(services.participant_remove)


@_participant_action(
    "spaces_participants_block",
    "Remove a participant and block them account-wide (host)",
    description=(
        "The host removes a participant from the Space and blocks them account-wide: follows "
        "between you are removed and they can no longer see or join your Spaces. The host only "
        "(403 `host_only`)."
    ),
    e403="`host_only`; `cannot_target_host`.",
    e409=NOT_LIVE,
)
class ParticipantBlockApi(_ParticipantActionApi):
    service = staticmethod(services.participant_block)


class CohostDetailApi(Api):
    @extend_schema(
        operation_id="spaces_cohosts_revoke",
        tags=TAGS,
        summary="Take the co-host role back (host)",
        description=(
            "The host takes the co-host role back (403 `host_only` for anyone else). The former "
            "co-host stays on stage as a speaker if a slot is free, else moves to the audience."
        ),
        responses={
            200: ParticipantSerializer,
            **write_errors(
                e403="`host_only`",
                e404="`space_not_found`; `participant_not_found`.",
                e409=f"`not_cohost`; {NOT_LIVE}.",
            ),
        },
    )
    def delete(self, request: Request, space_id: int, user_id: int) -> Response:
        participant = services.cohost_revoke(
            actor=request_user(request), space_id=space_id, user_id=user_id
        )
        return Response(participant_data(participant))


_SELF_AUDIO_ERRORS = write_errors(
    e403="`not_in_space`", e409=f"`not_on_stage`: only people on stage; {NOT_LIVE}."
)


class MeMuteApi(Api):
    @extend_schema(
        operation_id="spaces_me_mute",
        tags=TAGS,
        summary="Mute yourself",
        description=(
            "Turn your own mic off: for people on stage (409 `not_on_stage`). Muting yourself "
            "again changes nothing."
        ),
        request=None,
        responses={200: ParticipantSerializer, **_SELF_AUDIO_ERRORS},
    )
    def post(self, request: Request, space_id: int) -> Response:
        return Response(
            participant_data(
                services.participant_mute_self(user=request_user(request), space_id=space_id)
            )
        )


class MeUnmuteApi(Api):
    @extend_schema(
        operation_id="spaces_me_unmute",
        tags=TAGS,
        summary="Unmute yourself",
        description=(
            "Turn your own mic on, also after the host or a co-host muted you: for people on stage "
            "(409 `not_on_stage`)."
        ),
        request=None,
        responses={200: ParticipantSerializer, **_SELF_AUDIO_ERRORS},
    )
    def post(self, request: Request, space_id: int) -> Response:
        user = request_user(request)
        participant = services.participant_unmute(actor=user, space_id=space_id, user_id=user.pk)
        return Response(participant_data(participant))


class MeStepDownApi(Api):
    @extend_schema(
        operation_id="spaces_me_step_down",
        tags=TAGS,
        summary="Leave the stage for the audience (speakers and co-hosts)",
        description=(
            "Leave the stage for the audience and free your slot: for speakers and co-hosts (a "
            "co-host also gives up the role). The host cannot step down (409 "
            "`host_cannot_step_down`); they leave or end the Space instead."
        ),
        request=None,
        responses={
            200: ParticipantSerializer,
            **write_errors(
                e403="`not_in_space`",
                e409=f"`not_on_stage`; `host_cannot_step_down`; {NOT_LIVE}.",
            ),
        },
    )
    def post(self, request: Request, space_id: int) -> Response:
        return Response(
            participant_data(
                services.participant_step_down(user=request_user(request), space_id=space_id)
            )
        )
