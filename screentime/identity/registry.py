"""Reading and writing a show's people registry: atomic, versioned, with its history kept.

A write names the version it was made on. It first claims `history/v<N+1>.json` with a
create-only write (a local hard link, an S3 conditional PUT): of two writers on the same
version exactly one succeeds and the other gets `StaleRegistry`, so no edit is lost silently.
Then `registry.json` is replaced atomically. A crash between the two steps leaves the claimed
version in the history, and `load_registry` finds it there.
"""

from __future__ import annotations

from screentime.contracts.errors import ScreentimeError
from screentime.contracts.layout import ShowLayout
from screentime.contracts.people import Change, PeopleRegistry
from screentime.contracts.progress import utc_now
from screentime.storage.base import Storage


class StaleRegistry(ScreentimeError):
    """The registry changed since the version an edit was made on."""


def load_registry(storage: Storage, show: str) -> PeopleRegistry:
    layout = ShowLayout(show)
    try:
        registry = PeopleRegistry.model_validate_json(storage.get_text(layout.registry_key))
    except FileNotFoundError:
        registry = PeopleRegistry(show=show)
    while True:  # a writer that died after claiming its version: the history is ahead
        try:
            registry = PeopleRegistry.model_validate_json(storage.get_text(layout.history_key(registry.version + 1)))
        except FileNotFoundError:
            return registry


def load_version(storage: Storage, show: str, version: int) -> PeopleRegistry:
    if version == 0:
        return PeopleRegistry(show=show)
    return PeopleRegistry.model_validate_json(storage.get_text(ShowLayout(show).history_key(version)))


def save_registry(storage: Storage, registry: PeopleRegistry, expected_version: int, by: str,
                  reason: str, change: Change = "link", undoes: int | None = None) -> PeopleRegistry:
    """Write `registry` as version expected_version + 1; StaleRegistry if that is taken."""
    layout = ShowLayout(registry.show)
    new = registry.model_copy(update={
        "version": expected_version + 1, "updated_at": utc_now(), "updated_by": by, "reason": reason[:200],
        "change": change, "undoes": undoes,
    })
    text = new.model_dump_json(indent=1)
    try:
        storage.put_new(layout.history_key(new.version), text.encode(), "application/json")
    except FileExistsError as exc:
        current = load_registry(storage, registry.show)
        raise StaleRegistry(
            f"the people of {registry.show} changed since version {expected_version} "
            f"(now version {current.version}, by {current.updated_by or 'the pipeline'}: {current.reason}); "
            "reload and make the change again") from exc
    storage.put_text(layout.registry_key, text, "application/json")
    return new
