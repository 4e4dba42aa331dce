"""Talking to Prodia (the only place with HTTP to it), and the local renderer that stands in for it."""
