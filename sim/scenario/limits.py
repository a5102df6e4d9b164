"""Limits that keep hostile or mistaken input from exhausting time and memory.

Files are read only when they are regular files, never past a byte cap; gzip is decompressed
under the same cap. Values echoed in messages are shortened and their control characters shown
escaped, so a 10 MB line or a terminal escape code in a file cannot flood or repaint a terminal.
"""

from __future__ import annotations

import errno
import math
import os
import stat
import zlib
from pathlib import Path

MB = 1 << 20
SCENARIO_MAX_BYTES = 5 * MB
"""A scenario file is a few KB; 5 MB leaves room for long schedules and refuses a runaway file."""
TRACE_MAX_BYTES = 1024 * MB
"""A trace (after decompression); parsing takes about 3 bytes of memory per byte of text."""
ALIAS_EXPANSION_LIMIT = 20_000
"""YAML nodes that aliases (`*name`) and merges (`<<:`) may add beyond those written in the file."""
YAML_VALUES_LIMIT = 250_000
"""Values (keys, numbers, dates, lists, mappings) in one scenario file: a shipped scenario holds
a few thousand; 250,000 (e.g. 3,000 providers with 12-step capacity schedules) keeps validation
of any file under SCENARIO_MAX_BYTES to a few seconds."""
SHOWN_CHARS = 80
"""Longest value echoed in a message."""

_CHUNK = 1 << 16


class ReadError(Exception):
    """A file that cannot be read; the message says why in a user's words."""


def read_capped(path: str | Path, limit: int, what: str) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; ReadError otherwise.

    FIFOs, devices, folders and symlink loops are refused before reading, and the file is read
    with a cap, so a file that grows or lies about its size (/proc) cannot exhaust memory.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise ReadError(_open_problem(path, exc, what)) from None
    try:
        info = os.fstat(fd)
        kind = _kind(info.st_mode)
        if kind:
            raise ReadError(f"is {kind}, expected {what}")
        if info.st_size > limit:
            raise ReadError(f"is {_size(info.st_size)}, more than the {_size(limit)} allowed "
                            f"for {what}")
        chunks: list[bytes] = []
        total = 0
        while True:
            chunk = os.read(fd, _CHUNK)
            if not chunk:
                break
            total += len(chunk)
            if total > limit:
                raise ReadError(f"is more than the {_size(limit)} allowed for {what}")
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise ReadError(f"cannot be read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def gunzip_capped(raw: bytes, limit: int, what: str) -> bytes:
    """The decompressed bytes of gzip data (every member), at most `limit`; ReadError otherwise."""
    out: list[bytes] = []
    total = 0
    data = raw
    try:
        while data:
            d = zlib.decompressobj(wbits=31)  # a gzip member
            while True:
                part = d.decompress(data, _CHUNK)
                total += len(part)
                if total > limit:
                    raise ReadError(f"decompresses to more than the {_size(limit)} allowed "
                                    f"for {what}")
                if not out and b"\0" in part:
                    raise ReadError(f"decompresses to binary data (NUL bytes), expected {what}")
                out.append(part)
                data = d.unconsumed_tail
                if d.eof or (not data and not part):
                    break
            if not d.eof:
                raise ReadError("is cut short (the gzip data ends early)")
            data = d.unused_data
    except zlib.error as exc:
        raise ReadError(f"is not valid gzip data ({exc})") from None
    return b"".join(out)


def _kind(mode: int) -> str:
    """What a non-regular file is, or '' for a regular file."""
    if stat.S_ISREG(mode):
        return ""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO), which could block or never end"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _open_problem(path: Path, exc: OSError, what: str) -> str:
    if exc.errno == errno.ELOOP:
        return "is a symbolic link that loops (it leads back to itself)"
    if exc.errno == errno.ENOENT:
        if path.is_symlink():
            return f"is a symbolic link to {shown(os.readlink(path), quote=False)}, which does " \
                   "not exist"
        return "no such file"
    if exc.errno == errno.EISDIR:
        return f"is a folder, expected {what}"
    return f"cannot be read: {exc.strerror or exc}"


def _size(n: int) -> str:
    return f"{n / MB:,.1f} MB" if n >= MB else f"{n:,} bytes"


def escaped(text: str) -> str:
    """`text` with control characters (terminal escapes, NUL, bidi overrides) shown as escapes."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def shorten(text: str, limit: int = SHOWN_CHARS) -> str:
    """`text` cut to `limit` characters, with '…' where it was cut."""
    return text if len(text) <= limit else text[:limit - 1] + "…"


def shown(value: object, limit: int = SHOWN_CHARS, quote: bool = True) -> str:
    """A value for a message: repr (text quoted) or plain, control characters escaped, at most
    `limit` characters ('…' where cut); NaN is named as not a number."""
    if isinstance(value, float) and math.isnan(value):
        return "nan (not a number)"
    if isinstance(value, str):
        head = value[:limit + 1]  # never build the repr of a 10 MB value
        text = repr(head) if quote else escaped(head)
        if len(head) < len(value) and quote:
            text = text[:-1]  # no closing quote on a value that was cut
    else:
        text = escaped(repr(value) if quote else str(value))
    return shorten(text, limit)
