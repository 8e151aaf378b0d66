"""Every write to a Space: one function per use case, called by the API, the admin, the socket,
the site and the media worker alike. One module per concern, in the manner of Zulip's
zerver/actions/; this package re-exports every use case, so callers write
`from spaces import services; services.space_join(...)` and never mind where it lives.

Each service is one `transaction.atomic` block that loads the Space through `access_space`
(locking its row when capacity or state is at stake; lock order in spaces/access.py), asks
`spaces.permissions` whether the actor may act, writes, records host / co-host / staff actions in
the moderation log, and publishes room events, which leave only after commit.

- common.py: the shared small pieces (counters, role moves, departures, the log, input cleaning)
- lifecycle.py: start, go live, end, ban a host
- membership.py: join, leave, heartbeat
- handover.py: the host role passing on (the host leaves, times out or returns)
- stage.py: raised hands and invitations
- moderation.py: demote, mute, unmute, step down, remove, block, revoke a co-host
- comments.py: text comments and their switches; controls.py: the host's live controls
- listening.py: real time (WebRTC) or live HLS for each listener
- guests.py: logged-out listening: the host's switch, the guest count
- recording.py: each stage member's consent, the recording's start (the replay is `replays`')
- reactions.py, pins.py, captions.py, share.py, reports.py
"""

from spaces.services.captions import CAPTION_MAX_LENGTH, caption_append, captions_toggle
from spaces.services.comments import (
    TAKE_DOWN_REASON_MAX_LENGTH,
    comment_delete,
    comment_post,
    comment_take_down,
    comments_configure,
)
from spaces.services.common import clean_title, clean_topics
from spaces.services.controls import mute_all, speaking_policy_set, stage_lock_set
from spaces.services.guests import guest_count_set, guests_allowed_set
from spaces.services.handover import host_timeout_handover
from spaces.services.lifecycle import (
    START_REPEAT_SECONDS,
    host_ban,
    space_end,
    space_go_live,
    space_start,
)
from spaces.services.listening import HlsInfo, hls_info, listen_mode_set
from spaces.services.membership import participant_heartbeat, space_join, space_leave
from spaces.services.moderation import (
    cohost_revoke,
    participant_block,
    participant_demote,
    participant_mute,
    participant_mute_self,
    participant_remove,
    participant_step_down,
    participant_unmute,
)
from spaces.services.noise import noise_suppression_set
from spaces.services.pins import pin_create, pin_remove
from spaces.services.reactions import (
    reaction_send,
)
from spaces.services.recording import (
    left_out_user_ids,
    recording_consent_set,
    recording_mark_started,
    recording_part_closed,
)
from spaces.services.reports import REPORT_DETAILS_MAX_LENGTH, report_create, report_resolve
from spaces.services.share import MAX_SHARE_RECIPIENTS, ShareResult, space_share
from spaces.services.stage import (
    invitation_accept,
    invitation_cancel,
    invitation_create,
    invitation_decline,
    speaker_request_approve,
    speaker_request_create,
    speaker_request_deny,
    speaker_request_withdraw,
)

__all__ = [
    "CAPTION_MAX_LENGTH",
    "MAX_SHARE_RECIPIENTS",
    "REPORT_DETAILS_MAX_LENGTH",
    "START_REPEAT_SECONDS",
    "TAKE_DOWN_REASON_MAX_LENGTH",
    "HlsInfo",
    "ShareResult",
    "caption_append",
    "captions_toggle",
    "clean_title",
    "clean_topics",
    "cohost_revoke",
    "comment_delete",
    "comment_post",
    "comment_take_down",
    "comments_configure",
    "guest_count_set",
    "guests_allowed_set",
    "hls_info",
    "host_ban",
    "host_timeout_handover",
    "invitation_accept",
    "invitation_cancel",
    "invitation_create",
    "invitation_decline",
    "left_out_user_ids",
    "listen_mode_set",
    "mute_all",
    "noise_suppression_set",
    "participant_block",
    "participant_demote",
    "participant_heartbeat",
    "participant_mute",
    "participant_mute_self",
    "participant_remove",
    "participant_step_down",
    "participant_unmute",
    "pin_create",
    "pin_remove",
    "reaction_send",
    "recording_consent_set",
    "recording_mark_started",
    "recording_part_closed",
    "report_create",
    "report_resolve",
    "space_end",
    "space_go_live",
    "space_join",
    "space_leave",
    "space_share",
    "space_start",
    "speaker_request_approve",
    "speaker_request_create",
    "speaker_request_deny",
    "speaker_request_withdraw",
    "speaking_policy_set",
    "stage_lock_set",
]
