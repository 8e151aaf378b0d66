"""A host's podcast as RSS 2.0 with the tags podcast apps read: Apple's `itunes:` namespace,
Podlove Simple Chapters (`psc:`, inline) and Podcasting 2.0 (`podcast:chapters`, a JSON file).

Rendering only: what the feed lists and who may read it is decided in replays/selectors.py
(`podcast_for`) and replays/access.py. Written with ElementTree, which escapes every text and
attribute; characters XML 1.0 cannot carry at all are dropped first (services refuse control
characters, but a feed must never be invalid because of one old row).

References: RSS 2.0 (https://www.rssboard.org/rss-specification), Apple Podcasts' RSS tags
(https://podcasters.apple.com/support/823-podcast-requirements), Podlove Simple Chapters 1.2
(https://podlove.org/simple-chapters/), Podcasting 2.0 (https://podcastindex.org/namespace/1.0).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime

from django.conf import settings

from accounts.models import User
from replays.selectors import Episode, Podcast

ITUNES = "http://www.itunes.com/dtds/podcast-1.0.dtd"
ATOM = "http://www.w3.org/2005/Atom"
PSC = "http://podlove.org/simple-chapters"
PODCAST = "https://podcastindex.org/namespace/1.0"
NAMESPACES = {"itunes": ITUNES, "atom": ATOM, "psc": PSC, "podcast": PODCAST}
for _prefix, _uri in NAMESPACES.items():
    ET.register_namespace(_prefix, _uri)

CONTENT_TYPE = "application/rss+xml; charset=utf-8"
AUDIO_TYPE = "audio/mp4"
# Not XML 1.0 characters (https://www.w3.org/TR/xml/#charsets).
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class Urls:
    """Absolute URLs of what the feed links to; the view builds them from the request."""

    def __init__(
        self,
        *,
        feed: str,
        profile: str,
        image: str,
        replay: Callable[[int], str],
        audio: Callable[[int], str],
        chapters: Callable[[int], str],
    ) -> None:
        self.feed, self.profile, self.image = feed, profile, image
        self.replay, self.audio, self.chapters = replay, audio, chapters


def _text(value: str) -> str:
    return _NOT_XML.sub("", value)


def _add(
    parent: ET.Element, tag: str, text: str | None = None, attrs: dict[str, str] | None = None
) -> ET.Element:
    element = ET.SubElement(parent, tag, {k: _text(v) for k, v in (attrs or {}).items()})
    if text is not None:
        element.text = _text(text)
    return element


def _it(tag: str) -> str:
    return f"{{{ITUNES}}}{tag}"


def default_title(host: User) -> str:
    return f"{host.name}'s Spaces"


def default_description(host: User) -> str:
    return host.bio or f"Recordings of the Spaces {host.name} (@{host.username}) hosted."


def channel_title(podcast: Podcast) -> str:
    return podcast.feed.title or default_title(podcast.host)


def channel_description(podcast: Podcast) -> str:
    return podcast.feed.description or default_description(podcast.host)


def language() -> str:
    """RSS wants a language tag (`en-us`): the site's."""
    return settings.LANGUAGE_CODE.lower()


def rfc822(moment: datetime) -> str:
    """`Sat, 07 Dec 2026 18:00:00 GMT`: RSS 2.0's dates (RFC 822, four-digit years)."""
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def npt(ms: int) -> str:
    """A chapter's start in Normal Play Time, as Podlove Simple Chapters writes it."""
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}"


def guid(episode: Episode) -> str:
    """Stable for the life of the replay, whatever the host, the title or the site's address
    become: a podcast app keys an episode on it and would list it again if it changed."""
    return f"spaces-replay-{episode.space.pk}-{int(episode.recording.started_at.timestamp())}"


def episode_description(episode: Episode, podcast: Podcast) -> str:
    space = episode.space
    lines = []
    if space.topics:
        lines.append("Topics: " + ", ".join(str(t) for t in space.topics) + ".")
    others = [u.name for u in episode.speakers if u.pk != podcast.host.pk]
    line = f"A Space hosted by {podcast.host.name}"
    line += f", with {', '.join(others)}." if others else "."
    lines.append(line)
    return "\n".join(lines)


def render(podcast: Podcast, urls: Urls) -> bytes:
    rss = ET.Element("rss", {"version": "2.0"})
    channel = ET.SubElement(rss, "channel")
    title = channel_title(podcast)
    _add(
        channel,
        f"{{{ATOM}}}link",
        attrs={"href": urls.feed, "rel": "self", "type": "application/rss+xml"},
    )
    _add(channel, "title", title)
    _add(channel, "link", urls.profile)
    _add(channel, "description", channel_description(podcast))
    _add(channel, "language", language())
    _add(channel, "lastBuildDate", rfc822(podcast.updated_at))
    _add(channel, "generator", "Spaces")
    image = _add(channel, "image")
    _add(image, "url", urls.image)
    _add(image, "title", title)
    _add(image, "link", urls.profile)
    _add(channel, _it("author"), podcast.host.name)
    _add(channel, _it("image"), attrs={"href": urls.image})
    _add(channel, _it("category"), attrs={"text": podcast.feed.category})
    _add(channel, _it("explicit"), "true" if podcast.feed.explicit else "false")
    _add(channel, _it("type"), "episodic")
    for episode in podcast.episodes:
        _item(channel, episode, podcast, urls)
    body = ET.tostring(rss, encoding="unicode")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n").encode()


def _item(channel: ET.Element, episode: Episode, podcast: Podcast, urls: Urls) -> None:
    space, audio = episode.space, episode.audio
    item = _add(channel, "item")
    _add(item, "title", space.title)
    _add(item, "description", episode_description(episode, podcast))
    _add(item, "link", urls.replay(space.pk))
    _add(item, "guid", guid(episode), attrs={"isPermaLink": "false"})
    published = space.ended_at or episode.recording.ready_at or episode.recording.started_at
    _add(item, "pubDate", rfc822(published))
    enclosure = {"url": urls.audio(space.pk), "length": str(audio.size_bytes), "type": AUDIO_TYPE}
    _add(item, "enclosure", attrs=enclosure)
    _add(item, _it("duration"), str(max(1, round(audio.duration_ms / 1000))))
    _add(item, _it("episodeType"), "full")
    if episode.chapters:
        chapters = _add(item, f"{{{PSC}}}chapters", attrs={"version": "1.2"})
        for chapter in episode.chapters:
            start = npt(chapter.start_ms)
            _add(
                chapters, f"{{{PSC}}}chapter", attrs={"start": start, "title": chapter.speaker.name}
            )
        json_chapters = {"url": urls.chapters(space.pk), "type": "application/json+chapters"}
        _add(item, f"{{{PODCAST}}}chapters", attrs=json_chapters)
