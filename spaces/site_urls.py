"""The Spaces pages of the site (spaces/views/). Every action is a POST to its own URL."""

from django.urls import path

import spaces_project.converters  # noqa: F401  (registers the `id` path converter)
from spaces.views import actions, cards, lists, live, room

S = "spaces/<id:space_id>"

urlpatterns = [
    path("spaces/", lists.space_list, name="space_list"),
    path("spaces/ended/", lists.space_ended_list, name="space_ended_list"),
    path("spaces/new/", lists.space_new, name="space_new"),
    path(f"{S}/", room.space_detail, name="space_detail"),
    # The link preview's image (spaces/previews.py).
    path(f"{S}/card.png", cards.space_card_image, name="space_card"),
    # Live HLS in the embedded shape; a static server or CDN serves /live/ in production.
    path("live/<str:folder>/<str:name>", live.live_file, name="live_hls_file"),
    path(f"{S}/transcript/", room.space_transcript, name="space_transcript"),
    path(
        f"{S}/transcript.<slug:fmt>",
        room.space_transcript_download,
        name="space_transcript_download",
    ),
    path(f"{S}/join/", actions.space_join, name="space_join"),
    path(f"{S}/leave/", actions.space_leave, name="space_leave"),
    path(f"{S}/end/", actions.space_end, name="space_end"),
    path(f"{S}/hand/", actions.hand_raise, name="space_hand_raise"),
    path(f"{S}/hand/withdraw/", actions.hand_withdraw, name="space_hand_withdraw"),
    path(
        f"{S}/requests/<id:request_id>/approve/",
        actions.request_approve,
        name="space_request_approve",
    ),
    path(f"{S}/requests/<id:request_id>/deny/", actions.request_deny, name="space_request_deny"),
    path(f"{S}/invite/", actions.speaker_invite, name="space_invite"),
    path(f"{S}/cohosts/invite/", actions.cohost_invite, name="space_cohost_invite"),
    path(
        f"{S}/invitations/<id:invitation_id>/accept/",
        actions.invitation_accept,
        name="space_invitation_accept",
    ),
    path(
        f"{S}/invitations/<id:invitation_id>/decline/",
        actions.invitation_decline,
        name="space_invitation_decline",
    ),
    path(
        f"{S}/invitations/<id:invitation_id>/cancel/",
        actions.invitation_cancel,
        name="space_invitation_cancel",
    ),
    # demote, mute, remove, block, cohost-revoke
    path(
        f"{S}/people/<id:user_id>/<slug:action>/",
        actions.participant_action,
        name="space_participant_action",
    ),
    path(f"{S}/me/mute/", actions.me_mute, name="space_me_mute"),
    path(f"{S}/me/unmute/", actions.me_unmute, name="space_me_unmute"),
    path(f"{S}/me/step-down/", actions.me_step_down, name="space_me_step_down"),
    path(f"{S}/me/recording/", actions.me_recording, name="space_me_recording"),
    path(f"{S}/react/", actions.react, name="space_react"),
    path(f"{S}/pins/", actions.pin_create, name="space_pin_create"),
    path(f"{S}/pins/<id:pin_id>/remove/", actions.pin_remove, name="space_pin_remove"),
    path(f"{S}/captions/", actions.captions_toggle, name="space_captions"),
    path(f"{S}/share/", actions.space_share, name="space_share"),
    path(f"{S}/report/", actions.space_report, name="space_report"),
    # Comments and the host's live controls.
    path(f"{S}/comments/", actions.comment_post, name="space_comment_post"),
    path(
        f"{S}/comments/<id:comment_id>/delete/",
        actions.comment_delete,
        name="space_comment_delete",
    ),
    path(f"{S}/comments/settings/", actions.comments_settings, name="space_comments_settings"),
    path(f"{S}/speaking-policy/", actions.speaking_policy, name="space_speaking_policy"),
    path(f"{S}/stage-lock/", actions.stage_lock, name="space_stage_lock"),
    path(f"{S}/guests/", actions.guests, name="space_guests"),
    path(f"{S}/noise-suppression/", actions.noise_suppression, name="space_noise_suppression"),
    path(f"{S}/mute-all/", actions.mute_all, name="space_mute_all"),
]
