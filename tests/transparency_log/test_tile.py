"""C2SP tlog-tiles (SPEC §2.9): paths, what a tree publishes, and authenticated tile reads."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transparency_log.errors import LogReason, VerificationError
from transparency_log.merkle import MAX_TREE_SIZE, leaf_hash
from transparency_log.proof import MemoryHashStore, consistency_proof, inclusion_proof, tree_root
from transparency_log.tile import (
    MAX_TILE_PATH_LENGTH,
    TILE_HEIGHT,
    TILE_WIDTH,
    EntryBundle,
    Tile,
    TileHashReader,
    append_tiles,
    entries_path,
    entry_bundles_for_size,
    new_tiles,
    parse_tile_data,
    parse_tile_path,
    require_resource_path,
    tile_data,
    tiles_for_size,
    x_path,
)

SIZE = 70_000
LEAVES = [leaf_hash(b"tile test %d" % i) for i in range(SIZE)]
STORE = MemoryHashStore(LEAVES)


def _reason(call: Any, *args: Any) -> str:
    with pytest.raises(VerificationError) as e:
        call(*args)
    return e.value.reason


# --- paths -------------------------------------------------------------------------------------


def test_constants() -> None:
    assert (TILE_HEIGHT, TILE_WIDTH) == (8, 256)
    assert MAX_TILE_PATH_LENGTH == 64


def test_x_paths(known_answers: dict[str, Any]) -> None:
    for n, expect in known_answers["tiles"]["x_paths"]:
        assert x_path(n) == expect
        assert Tile(0, n).path() == f"tile/0/{expect}"
        assert entries_path(n) == f"tile/entries/{expect}"


def test_spec_path_examples() -> None:
    assert Tile(1, 0, 17).path() == "tile/1/000.p/17"
    assert EntryBundle(1000).path() == "tile/entries/x001/000"
    assert parse_tile_path("tile/1/000.p/17") == Tile(1, 0, 17)
    assert parse_tile_path("tile/entries/x001/000") == EntryBundle(1000)
    assert parse_tile_path("tile/7/000.p/1") == Tile(7, 0, 1)


def test_longest_valid_path_fits_the_limit() -> None:
    index = (MAX_TREE_SIZE - 255) // TILE_WIDTH
    path = EntryBundle(index, 255).path()
    assert len(path) == 47 <= MAX_TILE_PATH_LENGTH
    assert parse_tile_path(path) == EntryBundle(index, 255)


MALFORMED_PATHS = {
    "leading zero in level": "tile/01/000",
    "level 64": "tile/64/000",
    "level 100": "tile/100/000",
    "two-digit group": "tile/0/00",
    "four-digit group": "tile/0/0000",
    "leading x000 group": "tile/0/x000/001",
    "group without x": "tile/0/001/000",
    "width 256 spelled out": "tile/0/000.p/256",
    "width 0": "tile/0/000.p/0",
    "width with leading zero": "tile/0/000.p/017",
    "width 1000": "tile/0/000.p/1000",
    "non-ASCII digits": "tile/0/\u0661\u0662\u0663",
    "leading slash": "/tile/0/000",
    "trailing slash": "tile/0/000/",
    "trailing newline": "tile/0/000\n",
    "upper case": "TILE/0/000",
    "entries with a level": "tile/entries/0/000",
    "unknown directory": "tile/data/000",
    "empty": "",
    "too long": "tile/0/" + "x001/" * 20 + "000",
    "beyond the largest tree": "tile/7/x036/x028/x797/x018/x963/968",
    "bundle beyond the largest tree": "tile/entries/x036/x028/x797/x018/x963/968",
    "level 8 tile": "tile/8/000.p/1",
    "level 63 tile": "tile/63/000.p/1",
}


@pytest.mark.parametrize("path", MALFORMED_PATHS.values(), ids=MALFORMED_PATHS.keys())
def test_malformed_path_is_rejected(path: str) -> None:
    assert _reason(parse_tile_path, path) == LogReason.MALFORMED_TILE


def test_a_path_beyond_the_largest_tree_is_explained_in_a_sentence() -> None:
    # Once a Python dump: "... Tile(level=8, index=0, width=1) lies beyond the largest tree".
    with pytest.raises(VerificationError) as caught:
        parse_tile_path("tile/8/000.p/1")
    assert caught.value.reason == LogReason.MALFORMED_TILE
    assert caught.value.message == (
        "the tile path 'tile/8/000.p/1' is well-formed but names a level-8 tile that ends past "
        f"leaf {MAX_TREE_SIZE}, the last of the largest tree (MAX_TREE_SIZE), so no log "
        "publishes it"
    )
    with pytest.raises(VerificationError, match="names an entry bundle that ends past") as caught:
        parse_tile_path("tile/entries/x036/x028/x797/x018/x963/968")
    assert "EntryBundle(" not in caught.value.message


@given(
    level=st.integers(0, 7),
    index=st.integers(0, 2**40),
    width=st.integers(1, TILE_WIDTH),
)
def test_tile_paths_round_trip(level: int, index: int, width: int) -> None:
    if (index * TILE_WIDTH + width) << (TILE_HEIGHT * level) > MAX_TREE_SIZE:
        return
    tile = Tile(level, index, width)
    assert parse_tile_path(tile.path()) == tile
    if level == 0:
        bundle = EntryBundle(index, width)
        assert parse_tile_path(bundle.path()) == bundle


@given(st.text(alphabet="tile/entrsx0123456789.p", max_size=40))
def test_every_accepted_path_formats_back_to_itself(path: str) -> None:
    try:
        parsed = parse_tile_path(path)
    except VerificationError as e:
        reason = e.reason
    else:
        assert parsed.path() == path
        return
    assert reason == LogReason.MALFORMED_TILE


def test_bad_tiles_are_caller_mistakes() -> None:
    with pytest.raises(ValueError, match="width"):
        Tile(0, 0, 0)
    with pytest.raises(ValueError, match="width"):
        Tile(0, 0, 257)
    with pytest.raises(ValueError, match="largest tree"):
        Tile(7, 2**40)
    with pytest.raises(TypeError):
        Tile(0, "1")  # type: ignore[arg-type]


# --- what a tree publishes ------------------------------------------------------------------


def test_size_70000_publishes_the_c2sp_example(known_answers: dict[str, Any]) -> None:
    expect = known_answers["tiles"]["size_70000"]
    tiles = tiles_for_size(70_000)
    full0 = [t for t in tiles if t.level == 0 and t.is_full]
    partial = {t.level: t.width for t in tiles if not t.is_full}
    assert len(full0) == expect["level0_full"]
    assert partial[0] == expect["level0_partial_width"]
    assert len([t for t in tiles if t.level == 1 and t.is_full]) == expect["level1_full"]
    assert partial[1] == expect["level1_partial_width"]
    assert partial[2] == expect["level2_partial_width"]
    assert max(t.level for t in tiles) == 2


def test_size_256_is_one_full_tile_and_its_parent() -> None:
    assert tiles_for_size(256) == [Tile(0, 0), Tile(1, 0, 1)]
    assert tiles_for_size(0) == []
    assert entry_bundles_for_size(257) == [EntryBundle(0), EntryBundle(1, 1)]


def test_new_tiles_are_the_difference_of_what_two_sizes_publish() -> None:
    sizes = [0, 1, 2, 255, 256, 257, 511, 512, 65535, 65536, 65537, 70000]
    for i, old in enumerate(sizes):
        for new in sizes[i:]:
            expect = set(tiles_for_size(new)) - set(tiles_for_size(old))
            got = new_tiles(old, new)
            assert set(got) == expect, (old, new)
            assert len(got) == len(expect)


def test_appended_tiles_equal_the_tiles_of_the_grown_tree() -> None:
    store = MemoryHashStore()
    for old, new in ((0, 1), (1, 300), (300, 300), (300, 65536), (65536, 65600)):
        appended = append_tiles(old, LEAVES[old:new], store)
        for h in LEAVES[old:new]:
            store.append(h)
        assert list(appended) == new_tiles(old, new)
        for tile, data in appended.items():
            assert data == tile_data(tile, STORE), (old, new, tile)


def test_tile_data_must_have_the_exact_length() -> None:
    tile = Tile(0, 0, 3)
    data = tile_data(tile, STORE)
    assert parse_tile_data(tile, data) == LEAVES[:3]
    for bad in (data[:-1], data + b"\x00", b""):
        assert _reason(parse_tile_data, tile, bad) == LogReason.MALFORMED_TILE


# --- reading proofs from tiles -----------------------------------------------------------------


class Server:
    """Serves the tiles of ``STORE``'s tree of ``size`` (or tampered ones), counting fetches."""

    def __init__(self, size: int) -> None:
        self.tiles = {t: tile_data(t, STORE) for t in tiles_for_size(size)}
        self.fetches = 0
        self.calls = 0

    def fetch(self, tiles: Sequence[Tile]) -> list[bytes]:
        self.calls += 1
        self.fetches += len(tiles)
        return [self.tiles[t] for t in tiles]


def _reader(size: int, server: Server) -> TileHashReader:
    return TileHashReader(size, tree_root(size, STORE), server.fetch)


@pytest.mark.parametrize("size", [1, 255, 256, 257, 4096, 65536, 65537, SIZE])
def test_tile_reader_gives_the_same_proofs_as_the_store(size: int) -> None:
    server = Server(size)
    reader = _reader(size, server)
    for index in sorted(
        i for i in {0, 1, size // 3, size // 2, size - 2, size - 1} if 0 <= i < size
    ):
        assert inclusion_proof(index, size, reader) == inclusion_proof(index, size, STORE)
    for old in sorted({1, size // 2, size - 1, size} - {0}):
        assert consistency_proof(old, size, reader) == consistency_proof(old, size, STORE)
    assert tree_root(size, reader) == tree_root(size, STORE)


def test_one_proof_is_one_fetch_of_few_tiles() -> None:
    server = Server(SIZE)
    reader = _reader(SIZE, server)
    inclusion_proof(12_345, SIZE, reader)
    assert server.calls == 1
    assert server.fetches <= 5
    before = server.fetches
    inclusion_proof(12_346, SIZE, reader)
    assert server.fetches == before  # authenticated tiles are cached


def test_partial_tile_may_be_served_from_the_full_tile() -> None:
    server = Server(SIZE)
    full = tile_data(Tile(0, 273), MemoryHashStore(LEAVES + LEAVES[:256]))
    server.tiles[Tile(0, 273, 112)] = full[: 112 * 32]
    assert inclusion_proof(SIZE - 1, SIZE, _reader(SIZE, server)) == inclusion_proof(
        SIZE - 1, SIZE, STORE
    )


def _tamper(server: Server, tile: Tile, data: bytes) -> None:
    assert tile in server.tiles
    server.tiles[tile] = data


def _flip(data: bytes, i: int) -> bytes:
    return data[:i] + bytes([data[i] ^ 1]) + data[i + 1 :]


TAMPERED: dict[str, tuple[Tile, Any]] = {
    "full level-0 tile, one hash changed": (Tile(0, 48), lambda d: _flip(d, 100 * 32 + 5)),
    "full level-0 tile, truncated": (Tile(0, 48), lambda d: d[:-32]),
    "full level-0 tile, one hash too many": (Tile(0, 48), lambda d: d + d[:32]),
    "full level-1 tile, one hash changed": (Tile(1, 0), lambda d: _flip(d, 48 * 32)),
    "right-edge level-0 tile, one hash changed": (Tile(0, 273, 112), lambda d: _flip(d, 0)),
    "right-edge level-2 tile, changed": (Tile(2, 0, 1), lambda d: _flip(d, 31)),
    "right-edge level-1 tile, stale (from a smaller tree)": (Tile(1, 1, 17), lambda d: d[:-32]),
}


@pytest.mark.parametrize(("tile", "change"), TAMPERED.values(), ids=TAMPERED.keys())
def test_tampered_tile_is_malformed(tile: Tile, change: Any) -> None:
    server = Server(SIZE)
    _tamper(server, tile, change(server.tiles[tile]))
    reader = _reader(SIZE, server)
    assert _reason(inclusion_proof, 48 * 256 + 7, SIZE, reader) == LogReason.MALFORMED_TILE


def test_a_tampered_tile_is_never_cached() -> None:
    server = Server(SIZE)
    good = server.tiles[Tile(0, 48)]
    _tamper(server, Tile(0, 48), _flip(good, 7))
    reader = _reader(SIZE, server)
    assert _reason(inclusion_proof, 48 * 256, SIZE, reader) == LogReason.MALFORMED_TILE
    _tamper(server, Tile(0, 48), good)
    assert inclusion_proof(48 * 256, SIZE, reader) == inclusion_proof(48 * 256, SIZE, STORE)


def test_tiles_of_another_tree_do_not_match_the_signed_root() -> None:
    server = Server(SIZE)
    reader = TileHashReader(SIZE, tree_root(SIZE - 1, STORE), server.fetch)
    assert _reason(inclusion_proof, 0, SIZE, reader) == LogReason.MALFORMED_TILE


def test_reader_refuses_nodes_outside_its_tree() -> None:
    reader = _reader(300, Server(300))
    with pytest.raises(ValueError, match="not a complete subtree"):
        reader.read_hashes([(0, 300)])
    with pytest.raises(ValueError, match="not a complete subtree"):
        reader.read_hashes([(9, 0)])


@pytest.mark.parametrize(
    "path",
    ["/etc/passwd", "../checkpoint", "tile/../x", "tile//0", ".checkpoint.tmp", "tile/.x", "a\\b"],
)
def test_a_resource_path_never_leaves_the_log_or_reaches_a_hidden_file(path: str) -> None:
    with pytest.raises(ValueError, match=r"^store path .* is not a relative path"):
        require_resource_path(path, "store path", 256)


def test_a_resource_path_has_a_length_limit_and_is_a_str() -> None:
    assert (
        require_resource_path("tile/0/x001/234.p/5", "resource path", 19) == "tile/0/x001/234.p/5"
    )
    with pytest.raises(ValueError, match="resource path"):
        require_resource_path("tile/0/x001/234.p/5", "resource path", 18)
    with pytest.raises(TypeError, match="a resource path is a str, not bytes"):
        require_resource_path(b"checkpoint", "resource path", 256)  # type: ignore[arg-type]
