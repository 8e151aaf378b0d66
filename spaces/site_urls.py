"""The Spaces pages of the site (spaces/views.py). Every action is a POST to its own URL."""

from django.urls import path

import spaces_project.converters  # noqa: F401  (registers the `id` path converter)
from spaces import views

S = "spaces/<id:space_id>"

urlpatterns = [
    path("spaces/", views.space_list, name="space_list"),
    path("spaces/ended/", views.space_ended_list, name="space_ended_list"),
    path("spaces/new/", views.space_new, name="space_new"),
    path(f"{S}/", views.space_detail, name="space_detail"),
    path(f"{S}/transcript/", views.space_transcript, name="space_transcript"),
    path(
        f"{S}/transcript.<slug:fmt>",
        views.space_transcript_download,
        name="space_transcript_download",
    ),
    path(f"{S}/join/", views.space_join, name="space_join"),
    path(f"{S}/leave/", views.space_leave, name="space_leave"),
    path(f"{S}/end/", views.space_end, name="space_end"),
    path(f"{S}/hand/", views.hand_raise, name="space_hand_raise"),
    path(f"{S}/hand/withdraw/", views.hand_withdraw, name="space_hand_withdraw"),
    path(
        f"{S}/requests/<id:request_id>/approve/",
        views.request_approve,
        name="space_request_approve",
    ),
    path(f"{S}/requests/<id:request_id>/deny/", views.request_deny, name="space_request_deny"),
    path(f"{S}/invite/", views.speaker_invite, name="space_invite"),
    path(f"{S}/cohosts/invite/", views.cohost_invite, name="space_cohost_invite"),
    path(
        f"{S}/invitations/<id:invitation_id>/accept/",
        views.invitation_accept,
        name="space_invitation_accept",
    ),
    path(
        f"{S}/invitations/<id:invitation_id>/decline/",
        views.invitation_decline,
        name="space_invitation_decline",
    ),
    path(
        f"{S}/invitations/<id:invitation_id>/cancel/",
        views.invitation_cancel,
        name="space_invitation_cancel",
    ),
    # demote, mute, remove, block, cohost-revoke
    path(
        f"{S}/people/<id:user_id>/<slug:action>/",
        views.participant_action,
        name="space_participant_action",
    ),
    path(f"{S}/me/mute/", views.me_mute, name="space_me_mute"),
    path(f"{S}/me/unmute/", views.me_unmute, name="space_me_unmute"),
    path(f"{S}/me/step-down/", views.me_step_down, name="space_me_step_down"),
    path(f"{S}/react/", views.react, name="space_react"),
    path(f"{S}/pins/", views.pin_create, name="space_pin_create"),
    path(f"{S}/pins/<id:pin_id>/remove/", views.pin_remove, name="space_pin_remove"),
    path(f"{S}/captions/", views.captions_toggle, name="space_captions"),
    path(f"{S}/share/", views.space_share, name="space_share"),
    path(f"{S}/report/", views.space_report, name="space_report"),
]
