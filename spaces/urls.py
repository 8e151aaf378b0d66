"""The Spaces API, mounted at /api/v1/ (spaces_project/urls.py)."""

from django.urls import path

import spaces_project.converters  # noqa: F401  (registers the `id` path converter)
from spaces.apis import comments, room, share, spaces, stage

S = "spaces/<id:space_id>"

urlpatterns = [
    path("spaces", spaces.SpaceListApi.as_view(), name="api-spaces"),
    path("spaces/following", spaces.SpaceFollowingApi.as_view(), name="api-spaces-following"),
    path("spaces/ended", spaces.SpaceEndedApi.as_view(), name="api-spaces-ended"),
    path(S, spaces.SpaceDetailApi.as_view(), name="api-space"),
    path(f"{S}/end", spaces.SpaceEndApi.as_view(), name="api-space-end"),
    path(f"{S}/join", spaces.SpaceJoinApi.as_view(), name="api-space-join"),
    path(f"{S}/leave", spaces.SpaceLeaveApi.as_view(), name="api-space-leave"),
    path(f"{S}/heartbeat", spaces.SpaceHeartbeatApi.as_view(), name="api-space-heartbeat"),
    path(
        f"{S}/recording/consent",
        spaces.RecordingConsentApi.as_view(),
        name="api-space-recording-consent",
    ),
    path(f"{S}/comments", comments.CommentListApi.as_view(), name="api-space-comments"),
    path(
        f"{S}/comments/settings",
        comments.CommentSettingsApi.as_view(),
        name="api-space-comment-settings",
    ),
    path(
        f"{S}/comments/<id:comment_id>",
        comments.CommentDetailApi.as_view(),
        name="api-space-comment",
    ),
    path(
        f"{S}/speaking-policy",
        comments.SpeakingPolicyApi.as_view(),
        name="api-space-speaking-policy",
    ),
    path(f"{S}/stage/lock", comments.StageLockApi.as_view(), name="api-space-stage-lock"),
    path(f"{S}/guests", comments.GuestsApi.as_view(), name="api-space-guests"),
    path(
        f"{S}/noise-suppression",
        comments.NoiseSuppressionApi.as_view(),
        name="api-space-noise-suppression",
    ),
    path(f"{S}/stage/mute-all", comments.MuteAllApi.as_view(), name="api-space-mute-all"),
    path(f"{S}/listen-mode", spaces.ListenModeApi.as_view(), name="api-space-listen-mode"),
    path(f"{S}/participants", spaces.ParticipantListApi.as_view(), name="api-space-participants"),
    path(
        f"{S}/participants/<id:user_id>/demote",
        stage.ParticipantDemoteApi.as_view(),
        name="api-space-participant-demote",
    ),
    path(
        f"{S}/participants/<id:user_id>/mute",
        stage.ParticipantMuteApi.as_view(),
        name="api-space-participant-mute",
    ),
    path(
        f"{S}/participants/<id:user_id>/unmute",
        stage.ParticipantUnmuteApi.as_view(),
        name="api-space-participant-unmute",
    ),
    path(
        f"{S}/participants/<id:user_id>/remove",
        stage.ParticipantRemoveApi.as_view(),
        name="api-space-participant-remove",
    ),
    path(
        f"{S}/participants/<id:user_id>/block",
        stage.ParticipantBlockApi.as_view(),
        name="api-space-participant-block",
    ),
    path(f"{S}/requests", stage.RequestListApi.as_view(), name="api-space-requests"),
    path(f"{S}/requests/mine", stage.RequestMineApi.as_view(), name="api-space-request-mine"),
    path(
        f"{S}/requests/<id:request_id>/approve",
        stage.RequestApproveApi.as_view(),
        name="api-space-request-approve",
    ),
    path(
        f"{S}/requests/<id:request_id>/deny",
        stage.RequestDenyApi.as_view(),
        name="api-space-request-deny",
    ),
    path(f"{S}/invitations", stage.InvitationCreateApi.as_view(), name="api-space-invitations"),
    path(
        f"{S}/invitations/<id:invitation_id>",
        stage.InvitationDetailApi.as_view(),
        name="api-space-invitation",
    ),
    path(
        f"{S}/invitations/<id:invitation_id>/accept",
        stage.InvitationAcceptApi.as_view(),
        name="api-space-invitation-accept",
    ),
    path(
        f"{S}/invitations/<id:invitation_id>/decline",
        stage.InvitationDeclineApi.as_view(),
        name="api-space-invitation-decline",
    ),
    path(f"{S}/cohosts/<id:user_id>", stage.CohostDetailApi.as_view(), name="api-space-cohost"),
    path(f"{S}/me/mute", stage.MeMuteApi.as_view(), name="api-space-me-mute"),
    path(f"{S}/me/unmute", stage.MeUnmuteApi.as_view(), name="api-space-me-unmute"),
    path(f"{S}/me/step-down", stage.MeStepDownApi.as_view(), name="api-space-me-step-down"),
    path(f"{S}/reactions", room.ReactionApi.as_view(), name="api-space-reactions"),
    path(f"{S}/pins", room.PinListApi.as_view(), name="api-space-pins"),
    path(f"{S}/pins/<id:pin_id>", room.PinDetailApi.as_view(), name="api-space-pin"),
    path(f"{S}/captions", room.CaptionsApi.as_view(), name="api-space-captions"),
    path(f"{S}/transcript", room.TranscriptApi.as_view(), name="api-space-transcript"),
    path(f"{S}/transcript.vtt", room.TranscriptVttApi.as_view(), name="api-space-transcript-vtt"),
    path(f"{S}/transcript.txt", room.TranscriptTextApi.as_view(), name="api-space-transcript-txt"),
    path(f"{S}/share", share.ShareApi.as_view(), name="api-space-share"),
    path(f"{S}/reports", share.ReportApi.as_view(), name="api-space-reports"),
    path(f"{S}/moderation-log", share.ModerationLogApi.as_view(), name="api-space-moderation-log"),
]
