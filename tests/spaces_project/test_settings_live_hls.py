"""Live HLS served from another origin must be allowed by the page's Content-Security-Policy."""

from __future__ import annotations

from tests.settings_probe import settings_under


def directives(env: dict[str, str]) -> dict[str, list[str]]:
    return settings_under(env)["CONTENT_SECURITY_POLICY"]["DIRECTIVES"]


def test_a_cdn_origin_is_allowed_to_fetch_and_play():
    policy = directives({"SPACES_HLS_URL": "https://cdn.example.com/spaces/live/"})
    assert "https://cdn.example.com" in policy["connect-src"]
    assert "https://cdn.example.com" in policy["media-src"]
    assert "https://cdn.example.com" not in policy["script-src"]


def test_the_default_path_adds_nothing():
    policy = directives({})
    assert policy["connect-src"] == ["'self'"]
    assert policy["media-src"] == ["'self'", "blob:"]
