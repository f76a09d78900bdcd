"""`-machine help` alone is printed from vmd/topics_cache.py (start-up time): it must be what the
board catalogs render."""

from __future__ import annotations

from vmd.topics import CACHE, cache_source


def test_the_cached_machine_listings_are_what_the_catalogs_render() -> None:
    assert CACHE.read_text() == cache_source(), "stale: run python -m vmd.topics"
