"""The TFRecord container, without TensorFlow: CRC-32C, record framing, and a streaming reader.

A TFRecord file is records of `uint64 length | uint32 masked CRC-32C(length bytes) | data | uint32
masked CRC-32C(data)`. Records are framed in Python but their CRCs are checked with numpy over a
whole chunk at once (CRC-32C is sequential per record, not across records), so no C extension is
needed and memory is one chunk whatever the file size. A corrupt record is reported with its byte
offset (RecordError) or, with `skip_bad`, skipped and counted (ReadStats); a file that ends inside
a record is reported with the record's offset. Split from tabular.converters.nb101_tfrecord (the
NB101 payloads and store), which re-exports these names.
"""
from __future__ import annotations

import hashlib
import logging
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tabular.errors import NasHarnessError

log = logging.getLogger(__name__)


# -- CRC-32C --------------------------------------------------------------------------------------
_POLY = 0x82F63B78  # reflected Castagnoli polynomial
_MASK_DELTA = 0xA282EAD8


def _crc_table() -> np.ndarray:
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ np.uint32(_POLY), table >> 1).astype(np.uint32)
    return table


_TABLE = _crc_table()
_TABLE_LIST = _TABLE.tolist()


def crc32c(data: bytes) -> int:
    """CRC-32C of one byte string (init and final XOR 0xFFFFFFFF); for small inputs and tests."""
    crc = 0xFFFFFFFF
    table = _TABLE_LIST
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def crc32c_many(buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """CRC-32C of many byte ranges of `buf` (uint8) at once: one vectorised table step per byte
    position, over every range still that long (ranges sorted by length, so a prefix slice)."""
    n = len(starts)
    out = np.empty(n, dtype=np.uint32)
    if n == 0:
        return out
    order = np.argsort(-lengths, kind="stable")
    s = starts[order].astype(np.int64)
    lens = lengths[order]
    crc = np.full(n, 0xFFFFFFFF, dtype=np.uint32)
    # active[i] = how many ranges are longer than i (lengths sorted descending).
    active = np.searchsorted(-lens, -np.arange(int(lens[0]) if n else 0), side="left")
    for i, k in enumerate(active.tolist()):
        c = crc[:k]
        crc[:k] = _TABLE[(c ^ buf[s[:k] + i]) & 0xFF] ^ (c >> 8)
    out[order] = crc ^ np.uint32(0xFFFFFFFF)
    return out


def mask_crc(crc: int | np.ndarray) -> int | np.ndarray:
    """TFRecord's masking: rotate right by 15 bits, add 0xA282EAD8 (mod 2^32)."""
    if isinstance(crc, np.ndarray):
        c = crc.astype(np.uint64)
        return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + _MASK_DELTA).astype(np.uint64) & 0xFFFFFFFF
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF


def frame_record(data: bytes) -> bytes:
    """One record in TFRecord framing (the inverse of the reader; used by fixtures and the bench)."""
    header = struct.pack("<Q", len(data))
    return header + struct.pack("<I", mask_crc(crc32c(header))) + data + struct.pack("<I", mask_crc(crc32c(data)))


def frame_records(payloads: list[bytes]) -> bytes:
    """Many records framed at once, CRCs computed with `crc32c_many` (fast fixture writing)."""
    if not payloads:
        return b""
    lengths = np.asarray([len(p) for p in payloads], dtype=np.int64)
    headers = np.asarray(lengths, dtype="<u8").view(np.uint8)
    joined = np.frombuffer(b"".join(payloads), dtype=np.uint8)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    head_crc = mask_crc(crc32c_many(headers, np.arange(len(payloads)) * 8, np.full(len(payloads), 8)))
    data_crc = mask_crc(crc32c_many(joined, starts, lengths))
    parts = []
    for k, payload in enumerate(payloads):
        parts += [
            headers[8 * k : 8 * k + 8].tobytes(),
            struct.pack("<I", int(head_crc[k])),
            payload,
            struct.pack("<I", int(data_crc[k])),
        ]
    return b"".join(parts)


# -- records -----------------------------------------------------------------------------------
class RecordError(NasHarnessError):
    """A corrupt or truncated record; `offset` is its byte offset in the file."""

    def __init__(self, path: Path, offset: int, what: str):
        self.offset = offset
        self.what = what
        super().__init__(f"{path}: record at byte offset {offset}: {what}; the file is corrupt (download it again), "
                         "or pass --skip-bad to skip such records")


@dataclass
class ReadStats:
    """What a pass over a file saw: the store's provenance reports these."""

    records_in_file: int = 0  # records framed (good + bad)
    records_read: int = 0
    records_skipped: int = 0
    skipped_offsets: list[int] = field(default_factory=list)
    truncated_at: int | None = None
    bytes_read: int = 0
    sha256: str = ""

    def skip(self, offset: int) -> None:
        self.records_in_file += 1
        self.records_skipped += 1
        if len(self.skipped_offsets) < 100:
            self.skipped_offsets.append(offset)


_HEADER = 12
CHUNK_BYTES = 8 << 20
MAX_RECORD = 1 << 26  # NB101 records are ~400 bytes; a larger length is corrupt, not a record
_OK, _BAD_LENGTH, _BAD_DATA = 0, 1, 2
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")


def iter_records(path: Path, stats: ReadStats, *, skip_bad: bool = False, chunk_bytes: int = CHUNK_BYTES,
                 progress: object | None = None) -> Iterator[tuple[int, bytes]]:
    """Yield (byte offset, data) of every record whose length and data CRCs are right.

    A bad data CRC skips exactly that record. A bad length CRC means the length cannot be trusted
    and the framing is lost: with `skip_bad` the reader looks, byte by byte, for the next position
    where a length, its CRC and the data CRC all agree (TFRecord has no sync marker). Memory is one
    chunk plus at most one record, whatever the file size.
    """
    sha = hashlib.sha256()
    buf = b""
    base = 0  # file offset of buf[0]
    eof = False
    lost = False  # searching for the next record start after a bad length field
    with open(path, "rb") as handle:
        while True:
            if not eof:
                block = handle.read(chunk_bytes)
                if block:
                    sha.update(block)
                    stats.bytes_read += len(block)
                    if progress is not None:
                        progress.update(len(block))  # type: ignore[attr-defined]
                    buf += block
                else:
                    eof = True
            if lost:
                found, keep_from = _resync(buf)
                if found is None:
                    buf, base = buf[keep_from:], base + keep_from
                    if eof:
                        break  # the rest of the file belonged to the bad record
                    continue
                buf, base, lost = buf[found:], base + found, False
            view = np.frombuffer(buf, dtype=np.uint8)
            starts, lengths, stop = _frame(buf)
            status = _check(view, starts, lengths)
            for k in range(len(starts)):
                start = int(starts[k])
                if status[k] == _OK:
                    stats.records_in_file += 1
                    stats.records_read += 1
                    yield base + start, buf[start + _HEADER: start + _HEADER + int(lengths[k])]
                    continue
                what = (
                    "the CRC of its length field does not match"
                    if status[k] == _BAD_LENGTH
                    else "the CRC of its data does not match"
                )
                if not skip_bad:
                    raise RecordError(path, base + start, what)
                log.warning("skipping the record at byte offset %d: %s", base + start, what)
                stats.skip(base + start)
                if status[k] == _BAD_LENGTH:
                    stop, lost = start + 1, True
                    break
            buf, base = buf[stop:], base + stop
            if eof and not lost:
                if buf:
                    if not skip_bad:
                        raise RecordError(path, base, f"the file ends inside this record (only {len(buf)} bytes of it "
                                                      "are present)")
                    log.warning("the file ends inside the record at byte offset %d; counted as skipped", base)
                    stats.truncated_at = base
                    stats.skip(base)
                break
    stats.sha256 = sha.hexdigest()


def _frame(buf: bytes) -> tuple[np.ndarray, np.ndarray, int]:
    """Starts and lengths of the records at the front of `buf`, and the offset after them.

    Complete records are taken at face value (their CRCs are checked in bulk afterwards). An
    incomplete last record is included (with length 0, to be flagged) only if its length field is
    already known to be corrupt, so that a flipped length bit is reported as corruption instead of
    making the reader wait for bytes that never come."""
    starts: list[int] = []
    lengths: list[int] = []
    pos, n = 0, len(buf)
    while pos + _HEADER <= n:
        length = _U64.unpack_from(buf, pos)[0]
        if length > MAX_RECORD or pos + _HEADER + length + 4 > n:
            if length > MAX_RECORD or _U32.unpack_from(buf, pos + 8)[0] != mask_crc(crc32c(buf[pos: pos + 8])):
                starts.append(pos)
                lengths.append(0)
            break
        starts.append(pos)
        lengths.append(length)
        pos += _HEADER + length + 4
    return np.asarray(starts, dtype=np.int64), np.asarray(lengths, dtype=np.int64), pos


def _le32(view: np.ndarray, at: np.ndarray) -> np.ndarray:
    return view[at[:, None] + np.arange(4)[None, :]].astype(np.uint32) @ (
        np.uint32(1) << (8 * np.arange(4, dtype=np.uint32))
    )


def _check(view: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Per framed record: _OK, _BAD_LENGTH or _BAD_DATA (CRCs computed for the whole chunk at once)."""
    n = len(starts)
    status = np.zeros(n, dtype=np.int8)
    if n == 0:
        return status
    len_ok = mask_crc(crc32c_many(view, starts, np.full(n, 8, dtype=np.int64))) == _le32(view, starts + 8)
    len_ok &= (lengths > 0) | (
        view[starts[:, None] + np.arange(8)[None, :]].sum(axis=1) == 0
    )  # flagged incomplete ones
    status[~len_ok] = _BAD_LENGTH
    ok = np.flatnonzero(len_ok)
    if ok.size:
        data_ok = mask_crc(crc32c_many(view, starts[ok] + _HEADER, lengths[ok])) == _le32(
            view, starts[ok] + _HEADER + lengths[ok]
        )
        status[ok[~data_ok]] = _BAD_DATA
    return status


def _resync(buf: bytes) -> tuple[int | None, int]:
    """(first position where a length, its CRC and the data CRC all agree, or None; the first
    position that cannot be ruled out yet, from which to keep the buffer)."""
    n = len(buf)
    for pos in range(0, n - _HEADER + 1):  # buf starts one byte after the bad record's start
        if _U32.unpack_from(buf, pos + 8)[0] != mask_crc(crc32c(buf[pos: pos + 8])):
            continue
        length = _U64.unpack_from(buf, pos)[0]
        end = pos + _HEADER + length
        if length > MAX_RECORD:
            continue
        if end + 4 > n:
            return None, pos  # a plausible header whose data is not read yet
        if _U32.unpack_from(buf, end)[0] == mask_crc(crc32c(buf[pos + _HEADER: end])):
            return pos, pos
    return None, max(0, n - _HEADER + 1)
