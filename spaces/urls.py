"""The Spaces API, mounted at /api/v1/ (spaces_project/urls.py)."""

from django.urls import path

import spaces_project.converters  # noqa: F401  (registers the `id` path converter)
from spaces import apis

S = "spaces/<id:space_id>"

urlpatterns = [
    path("spaces", apis.SpaceListApi.as_view(), name="api-spaces"),
    path("spaces/following", apis.SpaceFollowingApi.as_view(), name="api-spaces-following"),
    path("spaces/ended", apis.SpaceEndedApi.as_view(), name="api-spaces-ended"),
    path(S, apis.SpaceDetailApi.as_view(), name="api-space"),
    path(f"{S}/end", apis.SpaceEndApi.as_view(), name="api-space-end"),
    path(f"{S}/join", apis.SpaceJoinApi.as_view(), name="api-space-join"),
    path(f"{S}/leave", apis.SpaceLeaveApi.as_view(), name="api-space-leave"),
    path(f"{S}/heartbeat", apis.SpaceHeartbeatApi.as_view(), name="api-space-heartbeat"),
    path(f"{S}/participants", apis.ParticipantListApi.as_view(), name="api-space-participants"),
    path(
        f"{S}/participants/<id:user_id>/demote",
        apis.ParticipantDemoteApi.as_view(),
        name="api-space-participant-demote",
    ),
    path(
        f"{S}/participants/<id:user_id>/mute",
        apis.ParticipantMuteApi.as_view(),
        name="api-space-participant-mute",
    ),
    path(
        f"{S}/participants/<id:user_id>/unmute",
        apis.ParticipantUnmuteApi.as_view(),
        name="api-space-participant-unmute",
    ),
    path(
        f"{S}/participants/<id:user_id>/remove",
        apis.ParticipantRemoveApi.as_view(),
        name="api-space-participant-remove",
    ),
    path(
        f"{S}/participants/<id:user_id>/block",
        apis.ParticipantBlockApi.as_view(),
        name="api-space-participant-block",
    ),
    path(f"{S}/requests", apis.RequestListApi.as_view(), name="api-space-requests"),
    path(f"{S}/requests/mine", apis.RequestMineApi.as_view(), name="api-space-request-mine"),
    path(
        f"{S}/requests/<id:request_id>/approve",
        apis.RequestApproveApi.as_view(),
        name="api-space-request-approve",
    ),
    path(
        f"{S}/requests/<id:request_id>/deny",
        apis.RequestDenyApi.as_view(),
        name="api-space-request-deny",
    ),
    path(f"{S}/invitations", apis.InvitationCreateApi.as_view(), name="api-space-invitations"),
    path(
        f"{S}/invitations/<id:invitation_id>",
        apis.InvitationDetailApi.as_view(),
        name="api-space-invitation",
    ),
    path(
        f"{S}/invitations/<id:invitation_id>/accept",
        apis.InvitationAcceptApi.as_view(),
        name="api-space-invitation-accept",
    ),
    path(
        f"{S}/invitations/<id:invitation_id>/decline",
        apis.InvitationDeclineApi.as_view(),
        name="api-space-invitation-decline",
    ),
    path(f"{S}/cohosts/<id:user_id>", apis.CohostDetailApi.as_view(), name="api-space-cohost"),
    path(f"{S}/me/mute", apis.MeMuteApi.as_view(), name="api-space-me-mute"),
    path(f"{S}/me/unmute", apis.MeUnmuteApi.as_view(), name="api-space-me-unmute"),
    path(f"{S}/me/step-down", apis.MeStepDownApi.as_view(), name="api-space-me-step-down"),
    path(f"{S}/reactions", apis.ReactionApi.as_view(), name="api-space-reactions"),
    path(f"{S}/pins", apis.PinListApi.as_view(), name="api-space-pins"),
    path(f"{S}/pins/<id:pin_id>", apis.PinDetailApi.as_view(), name="api-space-pin"),
    path(f"{S}/captions", apis.CaptionsApi.as_view(), name="api-space-captions"),
    path(f"{S}/transcript", apis.TranscriptApi.as_view(), name="api-space-transcript"),
    path(f"{S}/transcript.vtt", apis.TranscriptVttApi.as_view(), name="api-space-transcript-vtt"),
    path(f"{S}/transcript.txt", apis.TranscriptTextApi.as_view(), name="api-space-transcript-txt"),
    path(f"{S}/share", apis.ShareApi.as_view(), name="api-space-share"),
    path(f"{S}/reports", apis.ReportApi.as_view(), name="api-space-reports"),
    path(f"{S}/moderation-log", apis.ModerationLogApi.as_view(), name="api-space-moderation-log"),
]
