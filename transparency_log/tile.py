"""C2SP tlog-tiles: tile coordinates, paths and tile-backed hash reading.

A tiled log publishes its Merkle tree as static files (SPEC §2.9): tile ``(L, N)`` holds the
hashes of tree level ``8 * L`` numbered ``N * 256`` to ``N * 256 + W - 1``; levels in between
are recomputed from a tile's bottom row. This module names tiles and entry bundles, parses
their paths strictly, lists what a tree of a given size publishes, builds tile bytes for a
writer, and reads proof hashes from fetched tiles for a client or auditor
(:class:`TileHashReader`), authenticating every tile against the signed root first, as Go's
``golang.org/x/mod/sumdb/tlog`` ``TileHashReader`` does. No I/O: fetching is a callable.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from transparency_log.errors import LogReason, VerificationError
from transparency_log.merkle import (
    HASH_SIZE,
    MAX_TREE_SIZE,
    _check_hash,
    _check_size,
    _sha256,
)
from transparency_log.proof import HashReader, NodeId, _range_ids

__all__ = [
    "MAX_CACHED_TILES",
    "MAX_TILE_LEVEL",
    "MAX_TILE_PATH_LENGTH",
    "TILE_HEIGHT",
    "TILE_WIDTH",
    "EntryBundle",
    "Tile",
    "TileFetcher",
    "TileHashReader",
    "append_tiles",
    "entries_path",
    "entry_bundles_for_size",
    "new_tiles",
    "parse_tile_data",
    "parse_tile_path",
    "require_resource_path",
    "tile_data",
    "tiles_for_size",
    "x_path",
]

TILE_HEIGHT = 8
"""Tree levels per tile (C2SP tlog-tiles fixes 8)."""

TILE_WIDTH = 1 << TILE_HEIGHT
"""Hashes in a full tile, and entries in a full entry bundle: 256."""

MAX_TILE_LEVEL = 63
"""Largest ``<L>`` a tile path may spell (C2SP tlog-tiles); trees of at most
:data:`~transparency_log.merkle.MAX_TREE_SIZE` leaves only ever use levels 0..7."""

MAX_TILE_PATH_LENGTH = 64
"""Longest tile or entry-bundle path we parse, in characters (SPEC §11); the longest valid
one, ``tile/entries/x036/x028/x797/x018/x963/967.p/255``, has 47."""

MAX_CACHED_TILES = 64
"""Authenticated full tiles a :class:`TileHashReader` keeps (about 1 MiB with their inner
levels); right-edge partial tiles are kept besides these, at most 8."""

_NODE = b"\x01"
_PATH = re.compile(
    r"tile/(entries|0|[1-9][0-9]?)/((?:x[0-9]{3}/)*[0-9]{3})(?:\.p/([1-9][0-9]{0,2}))?"
)

# A path element: letters, digits, '_', '-', '.', not starting with '.', so that '.' and '..'
# (traversal), hidden names and the writers' temporary names ('.<name>.tmp') are all refused.
_ELEMENT = r"[A-Za-z0-9_-][A-Za-z0-9_.-]*"
_RESOURCE_PATH = re.compile(rf"{_ELEMENT}(?:/{_ELEMENT})*")


def require_resource_path(path: str, what: str, max_length: int) -> str:
    """Return ``path`` if it is a safe relative path of a log's static resource, else raise
    ``ValueError`` (``TypeError`` if it is not a ``str``).

    Safe (SPEC §6.1, §6.5.4): ``/``-separated non-empty elements of ``[A-Za-z0-9_.-]`` that
    do not start with ``.``, at most ``max_length`` characters. This refuses absolute paths,
    ``..`` traversal, backslashes, empty elements and hidden or temporary names, so a path
    from a URL or a caller never leaves the log's directory or reaches a file it stages. The
    one check of the tile store (``MAX_PATH_LENGTH``) and the fetcher
    (``MAX_FETCH_PATH_LENGTH``); ``what`` names the path in the error.
    """
    if not isinstance(path, str):
        raise TypeError(f"a {what} is a str, not {type(path).__name__}")
    if len(path) > max_length or _RESOURCE_PATH.fullmatch(path) is None:
        raise ValueError(
            f"{what} {path[:80]!r} is not a relative path of [A-Za-z0-9_.-] elements "
            "(no leading '.', no '..', no empty element)"
        )
    return path


def _check_int(value: object, what: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    if not low <= value <= high:
        raise ValueError(f"{what} must be in {low}..{high}, not {value}")
    return value


def x_path(n: int) -> str:
    """Encode a tile index as C2SP tlog-tiles ``<N>``: 3-digit groups, all but the last ``x``-ed.

    ``1234067`` is ``x001/x234/067``; ``5`` is ``005``.
    """
    _check_int(n, "tile index", 0, MAX_TREE_SIZE)
    groups = [f"{n % 1000:03d}"]
    n //= 1000
    while n:
        groups.append(f"x{n % 1000:03d}")
        n //= 1000
    return "/".join(reversed(groups))


def _suffix(width: int) -> str:
    return "" if width == TILE_WIDTH else f".p/{width}"


def entries_path(index: int, width: int = TILE_WIDTH) -> str:
    """Return ``tile/entries/<N>[.p/<W>]``, the path of an entry bundle (C2SP tlog-tiles)."""
    return EntryBundle(index, width).path()


@dataclass(frozen=True)
class Tile:
    """Merkle tile ``(level, index)`` of ``width`` hashes (C2SP tlog-tiles, SPEC §2.9).

    ``level`` 0 holds leaf hashes; level L holds the hashes of tree level ``8 * L``, each the
    root of a full tile at level L-1. ``width`` is 256 for a full tile, 1..255 for the
    partial tile at the right edge of a tree. A tile that no tree of at most
    :data:`~transparency_log.merkle.MAX_TREE_SIZE` leaves contains is a ``ValueError``.
    """

    level: int
    index: int
    width: int = TILE_WIDTH

    def __post_init__(self) -> None:
        _check_int(self.level, "tile level", 0, MAX_TILE_LEVEL)
        _check_int(self.index, "tile index", 0, MAX_TREE_SIZE)
        _check_int(self.width, "tile width", 1, TILE_WIDTH)
        if (self.index * TILE_WIDTH + self.width) << (TILE_HEIGHT * self.level) > MAX_TREE_SIZE:
            raise ValueError(
                f"the level-{self.level} tile {self.index} of width {self.width} lies beyond "
                f"the largest tree ({MAX_TREE_SIZE} leaves)"
            )

    @property
    def is_full(self) -> bool:
        """Whether the tile has all 256 hashes (and so is hashed into the level above)."""
        return self.width == TILE_WIDTH

    def path(self) -> str:
        """Return ``tile/<L>/<N>[.p/<W>]``."""
        return f"tile/{self.level}/{x_path(self.index)}{_suffix(self.width)}"

    def node_ids(self) -> list[NodeId]:
        """The tree nodes whose hashes the tile holds, in order."""
        first = self.index * TILE_WIDTH
        level = TILE_HEIGHT * self.level
        return [(level, first + i) for i in range(self.width)]


@dataclass(frozen=True)
class EntryBundle:
    """Entry bundle ``index`` of ``width`` entries: leaves ``index * 256`` onwards (SPEC §2.9).

    Its entries hash to the level-0 tile of the same index and width.
    """

    index: int
    width: int = TILE_WIDTH

    def __post_init__(self) -> None:
        _check_int(self.index, "entry bundle index", 0, MAX_TREE_SIZE)
        _check_int(self.width, "entry bundle width", 1, TILE_WIDTH)
        if self.index * TILE_WIDTH + self.width > MAX_TREE_SIZE:
            raise ValueError(
                f"entry bundle {self.index} of width {self.width} lies beyond the largest "
                f"tree ({MAX_TREE_SIZE} leaves)"
            )

    @property
    def is_full(self) -> bool:
        """Whether the bundle has all 256 entries."""
        return self.width == TILE_WIDTH

    def path(self) -> str:
        """Return ``tile/entries/<N>[.p/<W>]``."""
        return f"tile/entries/{x_path(self.index)}{_suffix(self.width)}"


TileFetcher = Callable[[Sequence[Tile]], list[bytes]]
"""Fetches tiles in one batch: the bytes of each requested tile, in order (SPEC §2.9).

For a partial tile it may return the first W hashes of the full tile if the partial one is
gone (C2SP tlog-tiles allows that fallback); the reader checks the byte length either way.
"""


def _malformed_path(path: str, why: str) -> VerificationError:
    return VerificationError(
        LogReason.MALFORMED_TILE,
        f"{path[:MAX_TILE_PATH_LENGTH]!r} is not a C2SP tlog-tiles path: {why}; expected "
        "tile/<L>/<N>[.p/<W>] or tile/entries/<N>[.p/<W>] with N as x-path groups",
    )


def parse_tile_path(path: str) -> Tile | EntryBundle:
    """Parse a tile or entry-bundle path strictly (SPEC §2.9).

    Exactly one spelling is accepted per tile: no leading zeros in ``<L>`` or ``<W>``, three
    digits per ``<N>`` group with no leading ``x000`` group, ``.p/<W>`` only for widths
    1..255, and nothing around the path. Anything else raises
    :class:`VerificationError` with MALFORMED_TILE.
    """
    if not isinstance(path, str):
        raise TypeError(f"a tile path must be a str, not {type(path).__name__}")
    if len(path) > MAX_TILE_PATH_LENGTH:
        raise _malformed_path(path, f"longer than {MAX_TILE_PATH_LENGTH} characters")
    match = _PATH.fullmatch(path)
    if match is None:
        raise _malformed_path(path, "it does not have the tile path syntax")
    level_s, n_s, width_s = match.groups()
    if n_s.startswith("x000"):
        raise _malformed_path(path, "the index has a leading zero group")
    index = int(n_s.replace("x", "").replace("/", ""))
    width = TILE_WIDTH
    if width_s is not None:
        width = int(width_s)
        if width >= TILE_WIDTH:
            raise _malformed_path(path, f"a partial width must be 1..{TILE_WIDTH - 1}")
    level = 0 if level_s == "entries" else int(level_s)
    if (
        level <= MAX_TILE_LEVEL
        and (index * TILE_WIDTH + width) << (TILE_HEIGHT * level) > MAX_TREE_SIZE
    ):
        what = "an entry bundle" if level_s == "entries" else f"a level-{level} tile"
        raise VerificationError(
            LogReason.MALFORMED_TILE,
            f"the tile path {path!r} is well-formed but names {what} that ends past leaf "
            f"{MAX_TREE_SIZE}, the last of the largest tree (MAX_TREE_SIZE), so no log "
            "publishes it",
        )
    try:
        if level_s == "entries":
            return EntryBundle(index, width)
        return Tile(level, index, width)
    except ValueError as e:
        raise _malformed_path(path, str(e)) from None


# --- what a tree publishes ---


def tiles_for_size(size: int) -> list[Tile]:
    """Every tile, full and partial, of every level that a tree of ``size`` publishes.

    By level, then index. For size 70000: 273 full and one 112-wide tile at level 0, one full
    and one 17-wide at level 1, one 1-wide at level 2 (C2SP tlog-tiles' example).
    """
    _check_size(size, "size")
    tiles: list[Tile] = []
    level = 0
    while count := size >> (TILE_HEIGHT * level):
        full, rest = divmod(count, TILE_WIDTH)
        tiles.extend(Tile(level, n) for n in range(full))
        if rest:
            tiles.append(Tile(level, full, rest))
        level += 1
    return tiles


def new_tiles(old_size: int, new_size: int) -> list[Tile]:
    """The tiles of tree ``new_size`` that tree ``old_size`` does not publish, by level.

    These are the tiles a writer stores when the tree grows: new tiles and wider versions of
    the old right-edge partial tiles. Equal to ``tiles_for_size(new_size)`` minus
    ``tiles_for_size(old_size)``.
    """
    _check_size(old_size, "old_size")
    _check_size(new_size, "new_size")
    if old_size > new_size:
        raise ValueError(f"old_size {old_size} is larger than new_size {new_size}")
    tiles: list[Tile] = []
    level = 0
    while True:
        shift = TILE_HEIGHT * level
        old_count, new_count = old_size >> shift, new_size >> shift
        if old_count == new_count:
            return tiles
        for n in range(old_count >> TILE_HEIGHT, ((new_count - 1) >> TILE_HEIGHT) + 1):
            tiles.append(Tile(level, n, min(TILE_WIDTH, new_count - n * TILE_WIDTH)))
        level += 1


def entry_bundles_for_size(size: int) -> list[EntryBundle]:
    """Every entry bundle, full and partial, that a tree of ``size`` publishes."""
    return [EntryBundle(t.index, t.width) for t in tiles_for_size(size) if t.level == 0]


# --- tile bytes ---


def tile_data(tile: Tile, reader: HashReader) -> bytes:
    """Return the bytes of ``tile``: its hashes concatenated, read in one call."""
    hashes = reader.read_hashes(tile.node_ids())
    for h in hashes:
        _check_hash(h, "tile hash")
    return b"".join(hashes)


def parse_tile_data(tile: Tile, data: bytes) -> list[bytes]:
    """Split tile bytes into hashes; MALFORMED_TILE unless exactly ``32 * width`` bytes.

    Shape only: authenticity comes from :class:`TileHashReader` or from hashing into a root.
    """
    if not isinstance(data, bytes):
        raise TypeError(f"tile data must be bytes, not {type(data).__name__}")
    want = tile.width * HASH_SIZE
    if len(data) != want:
        raise VerificationError(
            LogReason.MALFORMED_TILE,
            f"{tile.path()} has {len(data)} bytes, expected {want} ({tile.width} hashes of "
            f"{HASH_SIZE} bytes); the server returned a truncated or wrong tile",
        )
    return [data[i : i + HASH_SIZE] for i in range(0, want, HASH_SIZE)]


def append_tiles(
    old_size: int, leaf_hashes: Sequence[bytes], reader: HashReader
) -> dict[Tile, bytes]:
    """The tiles to store when ``leaf_hashes`` are appended to the tree of ``old_size``.

    ``reader`` holds the old tree (the writer's own tiles); it is asked once, for the old
    tree's perfect-subtree roots (its compact range) and the old hashes of the right-edge
    partial tiles, which the new tiles extend. Returns exactly :func:`new_tiles` with data.
    """
    _check_size(old_size, "old_size")
    leaves = [_check_hash(h, "leaf hash") for h in leaf_hashes]
    new_size = _check_size(old_size + len(leaves), "new size")
    tiles = new_tiles(old_size, new_size)
    frontier = _range_ids(0, old_size)
    prefix_ids: list[NodeId] = []
    for tile in tiles:
        old_count = old_size >> (TILE_HEIGHT * tile.level)
        first = tile.index * TILE_WIDTH
        prefix_ids.extend((TILE_HEIGHT * tile.level, i) for i in range(first, old_count))
    ids = frontier + prefix_ids
    read = reader.read_hashes(ids) if ids else []
    if len(read) != len(ids):
        raise ValueError(f"read_hashes returned {len(read)} hashes for {len(ids)} ids")
    old: dict[NodeId, bytes] = dict(zip(ids, read, strict=True))
    # New nodes level by level: level k holds indices old_size >> k .. new_size >> k; the
    # only old child a new node can have is the frontier node at that level.
    rows: list[list[bytes]] = [leaves]
    top = TILE_HEIGHT * max((t.level for t in tiles), default=0)
    for k in range(top):
        start, row = old_size >> k, rows[k]
        nxt: list[bytes] = []
        for i in range(old_size >> (k + 1), new_size >> (k + 1)):
            left = row[2 * i - start] if 2 * i >= start else old[(k, 2 * i)]
            nxt.append(_sha256(_NODE + left + row[2 * i + 1 - start]).digest())
        rows.append(nxt)
    out: dict[Tile, bytes] = {}
    for tile in tiles:
        level = TILE_HEIGHT * tile.level
        start = old_size >> level
        first = tile.index * TILE_WIDTH
        hashes = [
            old[(level, i)] if i < start else rows[level][i - start]
            for i in range(first, first + tile.width)
        ]
        out[tile] = b"".join(hashes)
    return out


# --- reading proof hashes from authenticated tiles ---


class _TileHashes:
    """A tile's hashes with every complete inner level recomputed: ``rows[j][p]`` is the node
    at tree level ``8 * L + j``, ``p``-th within the tile. A full tile has ``rows[8] = [root]``.
    """

    __slots__ = ("rows",)

    def __init__(self, hashes: list[bytes]) -> None:
        rows = [hashes]
        row = hashes
        while len(row) > 1:
            row = [_sha256(_NODE + row[i] + row[i + 1]).digest() for i in range(0, len(row) - 1, 2)]
            rows.append(row)
        self.rows = rows


class TileHashReader(HashReader):
    """A :class:`HashReader` over fetched tiles, for the tree of ``size`` with signed ``root``.

    Each :meth:`read_hashes` call maps node ids to tiles, fetches the tiles it does not hold
    in ONE ``fetch`` call, checks their length, and authenticates every one before using or
    caching it (SPEC §2.9): the right-edge partial tiles must hash to ``root`` (checked once
    per reader, then kept), and each full tile must hash to its entry in its parent tile,
    which is itself authenticated. A tile that fails either check is MALFORMED_TILE; as
    with Go's sumdb TileHashReader, a bad root check cannot say which tile was wrong.

    ``root`` must come from a verified checkpoint. Up to ``cache_tiles`` authenticated full
    tiles are kept (least recently used out), so repeated proofs cost no fetches.
    """

    def __init__(
        self,
        size: int,
        root: bytes,
        fetch: TileFetcher,
        *,
        cache_tiles: int = MAX_CACHED_TILES,
    ) -> None:
        self._size = _check_size(size, "size")
        self._root = _check_hash(root, "root")
        if not callable(fetch):
            raise TypeError("fetch must be callable")
        self._fetch = fetch
        self._cache_tiles = _check_int(cache_tiles, "cache_tiles", 0, 1 << 20)
        self._edge: dict[tuple[int, int], _TileHashes] | None = None
        self._cache: OrderedDict[tuple[int, int], _TileHashes] = OrderedDict()

    @property
    def size(self) -> int:
        """The tree size this reader serves."""
        return self._size

    @property
    def root(self) -> bytes:
        """The signed root every tile is authenticated against."""
        return self._root

    def _tile(self, key: tuple[int, int]) -> Tile:
        level, index = key
        count = self._size >> (TILE_HEIGHT * level)
        return Tile(level, index, min(TILE_WIDTH, count - index * TILE_WIDTH))

    def _edge_keys(self) -> list[tuple[int, int]]:
        keys = []
        level = 0
        while count := self._size >> (TILE_HEIGHT * level):
            if count % TILE_WIDTH:
                keys.append((level, count // TILE_WIDTH))
            level += 1
        return keys

    def read_hashes(self, ids: Sequence[NodeId]) -> list[bytes]:
        """Return the hash of each node id, from authenticated tiles (see the class doc).

        A node that is not a complete subtree of the tree of ``size`` is a ``ValueError``.
        """
        size = self._size
        cache = self._cache
        locs: list[tuple[tuple[int, int], int, int]] = []
        for node in ids:
            level, index = node
            if (
                not isinstance(level, int)
                or not isinstance(index, int)
                or level < 0
                or index < 0
                or level > 62
                or (index + 1) << level > size
            ):
                raise ValueError(
                    f"node {node!r} is not a complete subtree of a tree of size {size}"
                )
            tl, j = divmod(level, TILE_HEIGHT)
            shift = TILE_HEIGHT - j
            locs.append(((tl, index >> shift), j, index & ((1 << shift) - 1)))
        if not locs:
            return []

        have: dict[tuple[int, int], _TileHashes] = {}
        plan: dict[tuple[int, int], Tile] = {}
        edge = self._edge
        if edge is None:
            for key in self._edge_keys():
                plan[key] = self._tile(key)
        else:
            have.update(edge)
        for first, _, _ in locs:
            # Walk up from the tile to an authenticated one (edge, cached, or planned).
            key = first
            while key not in have and key not in plan:
                cached = cache.get(key)
                if cached is not None:
                    cache.move_to_end(key)
                    have[key] = cached
                    break
                tile = self._tile(key)
                plan[key] = tile
                if not tile.is_full:
                    raise AssertionError(f"bad math in TileHashReader: {tile} is not on the edge")
                key = (key[0] + 1, key[1] >> TILE_HEIGHT)

        if plan:
            built = self._fetch_and_authenticate(list(plan.values()), have, edge is None)
            have.update(built)
        out: list[bytes] = []
        for key, j, pos in locs:
            out.append(have[key].rows[j][pos])
        return out

    def _fetch_and_authenticate(
        self, tiles: list[Tile], have: dict[tuple[int, int], _TileHashes], check_root: bool
    ) -> dict[tuple[int, int], _TileHashes]:
        data = self._fetch(tiles)
        if not isinstance(data, list) or len(data) != len(tiles):
            raise ValueError(
                f"fetch must return a list of {len(tiles)} tiles' bytes, "
                f"got {type(data).__name__} of length {len(data)}"
            )
        built = {
            (t.level, t.index): _TileHashes(parse_tile_data(t, d))
            for t, d in zip(tiles, data, strict=True)
        }

        if check_root:
            # The partial tiles on the right edge hold the tree's perfect-subtree roots.
            root = b""
            for level, index in reversed(_range_ids(0, self._size)):
                tl, j = divmod(level, TILE_HEIGHT)
                shift = TILE_HEIGHT - j
                h = built[(tl, index >> shift)].rows[j][index & ((1 << shift) - 1)]
                root = h if not root else _sha256(_NODE + h + root).digest()
            if root != self._root:
                raise VerificationError(
                    LogReason.MALFORMED_TILE,
                    f"the right-edge tiles of the tree of size {self._size} hash to "
                    f"{root.hex()}, not to the checkpoint root {self._root.hex()}; the tile "
                    "server returned a wrong or stale partial tile",
                )

        for t in tiles:
            if not t.is_full:
                continue
            parent_key = (t.level + 1, t.index >> TILE_HEIGHT)
            parent = built.get(parent_key) or have.get(parent_key)
            if parent is None:
                raise AssertionError(f"bad math in TileHashReader: no parent for {t}")
            want = parent.rows[0][t.index & (TILE_WIDTH - 1)]
            got = built[(t.level, t.index)].rows[TILE_HEIGHT][0]
            if got != want:
                raise VerificationError(
                    LogReason.MALFORMED_TILE,
                    f"{t.path()} hashes to {got.hex()}, but its parent tile records "
                    f"{want.hex()}; the tile server returned a wrong tile",
                )

        # Everything fetched is authenticated: keep it.
        if check_root:
            self._edge = {k: v for k, v in built.items() if not self._tile(k).is_full}
        cache = self._cache
        for t in tiles:
            if t.is_full:
                cache[(t.level, t.index)] = built[(t.level, t.index)]
        while len(cache) > self._cache_tiles:
            cache.popitem(last=False)
        return built
