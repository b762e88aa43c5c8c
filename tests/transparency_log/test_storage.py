"""Tile storage: path validation, atomic write-once files, the checkpoint's atomic replace."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from transparency_log.storage import (
    CHECKPOINT_PATH,
    DirectoryTileStore,
    MemoryTileStore,
    TileStore,
    validate_path,
)


@pytest.mark.parametrize(
    "path",
    ["tile/0/000", "tile/0/x001/x234/067.p/17", "tile/entries/000.p/1", "checkpoint"],
)
def test_tile_paths_are_accepted(path: str) -> None:
    assert validate_path(path) == path


@pytest.mark.parametrize(
    "path",
    [
        "",
        "/etc/passwd",
        "../outside",
        "tile/../../outside",
        "tile/./0",
        "tile//0",
        "tile/0/",
        ".state/lock",
        "tile/0/.000.tmp",
        "tile\\0",
        "tile/0/000\x00",
        "tile/" + "a" * 300,
    ],
)
def test_traversal_and_odd_paths_are_refused(path: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a relative path"):
        validate_path(path)
    for store in (DirectoryTileStore(tmp_path), MemoryTileStore()):
        with pytest.raises(ValueError, match="not a relative path"):
            store.read(path)
        with pytest.raises(ValueError, match="not a relative path"):
            store.write_files({path: b"x"})


def test_paths_are_strings() -> None:
    with pytest.raises(TypeError):
        validate_path(b"tile/0/000")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        DirectoryTileStore("relative")  # type: ignore[arg-type]


@pytest.mark.parametrize("fsync", [True, False])
def test_directory_store_writes_files_and_leaves_no_temporaries(
    tmp_path: Path, fsync: bool
) -> None:
    store: TileStore = DirectoryTileStore(tmp_path / "log", fsync=fsync)
    files = {
        "tile/0/000": b"a" * 8192,
        "tile/0/001.p/5": b"b" * 160,
        "tile/entries/x001/000": b"\x00\x01c",
    }
    store.write_files(files)
    store.write_checkpoint(b"origin\n1\nroot\n")
    for path, data in files.items():
        assert store.read(path) == data
        assert (tmp_path / "log" / path).read_bytes() == data
        assert os.stat(tmp_path / "log" / path).st_mode & 0o777 == 0o644
    assert store.read(CHECKPOINT_PATH) == b"origin\n1\nroot\n"
    assert store.read("tile/0/002") is None
    leftovers = [p for p in (tmp_path / "log").rglob(".*")]
    assert leftovers == []


def test_a_rewrite_replaces_atomically_and_the_checkpoint_is_replaced(tmp_path: Path) -> None:
    store = DirectoryTileStore(tmp_path)
    store.write_files({"tile/0/000.p/1": b"old"})
    # A stale temporary left by a killed writer is truncated, not appended to.
    (tmp_path / "tile/0/000.p/.1.tmp").write_bytes(b"garbage" * 100)
    store.write_files({"tile/0/000.p/1": b"new"})
    assert store.read("tile/0/000.p/1") == b"new"
    store.write_checkpoint(b"one")
    store.write_checkpoint(b"two")
    assert (tmp_path / "checkpoint").read_bytes() == b"two"
    assert not (tmp_path / ".checkpoint.tmp").exists()


def test_directory_fsyncs_are_batched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = DirectoryTileStore(tmp_path)
    store.write_files({"tile/0/000.p/1": b"x"})  # creates the directories
    synced: list[int] = []
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counting_fsync)
    store.write_files({f"tile/0/{i:03d}": b"y" for i in range(5)})
    # five files, one directory: six fsyncs, not ten
    assert len(synced) == 6


def test_memory_store_copies_and_lists() -> None:
    store = MemoryTileStore()
    data = bytearray(b"abc")
    store.write_files({"tile/0/000.p/1": bytes(data)})
    store.write_checkpoint(b"cp")
    assert store.read("tile/0/000.p/1") == b"abc"
    assert store.paths() == ["checkpoint", "tile/0/000.p/1"]
    with pytest.raises(TypeError):
        store.write_checkpoint("text")  # type: ignore[arg-type]
