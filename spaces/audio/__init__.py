"""Glue between a Space and the media package: the bridge that drives a media worker from room
events, worker placement and relaying in the distributed shape, and captions."""
