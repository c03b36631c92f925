"""The per-show people registry: versioned writes that never lose an edit, locally and on S3."""

from __future__ import annotations

import pytest

from screentime.contracts.people import Identity
from screentime.identity.registry import StaleRegistry, load_registry, load_version, save_registry
from screentime.storage import LocalStorage, open_storage


def _name_first(storage, expected: int, name: str, by: str):
    registry = load_registry(storage, "show")
    registry.identities[1] = Identity(id=1, name=name)
    return save_registry(storage, registry, expected, by=by, reason=f"named person 1 {name}")


def check_versioned_writes(storage) -> None:
    assert load_registry(storage, "show").version == 0
    first = _name_first(storage, 0, "Ann", "tab-a")
    assert first.version == 1 and load_registry(storage, "show").identities[1].name == "Ann"
    second = _name_first(storage, 1, "Bea", "tab-a")
    assert second.version == 2
    with pytest.raises(StaleRegistry, match="changed since version 1 .*now version 2, by tab-a"):
        _name_first(storage, 1, "Cid", "tab-b")  # an edit made on an old version is refused
    assert load_registry(storage, "show").identities[1].name == "Bea"
    assert load_version(storage, "show", 1).identities[1].name == "Ann"  # history kept (undo reads it)


def test_versioned_writes_on_the_local_disk(tmp_path):
    check_versioned_writes(LocalStorage(tmp_path))


def test_versioned_writes_on_s3(s3_env):
    check_versioned_writes(open_storage(s3_env))


def test_a_writer_that_died_after_claiming_its_version_is_found_in_the_history(tmp_path):
    storage = LocalStorage(tmp_path)
    _name_first(storage, 0, "Ann", "a")
    registry = load_registry(storage, "show")
    registry.identities[1] = Identity(id=1, name="Dee")
    claimed = registry.model_copy(update={"version": 2})
    storage.put_new("artifacts/people/show/history/v000002.json", claimed.model_dump_json().encode())
    assert load_registry(storage, "show").identities[1].name == "Dee"  # registry.json was never replaced
