"""Length-prefixed messages over pipes, serialised with torch.save (its legacy, non-zip format).

The parent reads the child's answers with ``torch.load(weights_only=True)``: only
tensors and plain containers come back, so a hostile child cannot run code in the
parent through its answer.
"""
from __future__ import annotations

import functools
import io
import os
import select
import struct
import time

HEADER = struct.Struct("!Q")
MAX_MESSAGE_BYTES = 512 * 2**20


class ChannelClosed(EOFError):
    """The other end closed the pipe (usually: the child process died)."""


class ChannelTimeout(TimeoutError):
    """No complete message arrived before the deadline."""


def saver(torch_save):
    """``torch.save`` writing its legacy format: no zip archive around a message of a few small tensors,
    15-50% less CPU per message here; ``torch.load`` (``weights_only`` too) reads it as it reads the other."""
    return functools.partial(torch_save, _use_new_zipfile_serialization=False)


def encode(obj, save) -> bytes:
    buffer = io.BytesIO()
    save(obj, buffer)
    payload = buffer.getvalue()
    return HEADER.pack(len(payload)) + payload


def write_message(fd: int, obj, save) -> None:
    data = memoryview(encode(obj, save))
    while data:
        written = os.write(fd, data)
        data = data[written:]


def _read_exactly(fd: int, count: int, deadline: float | None) -> bytes:
    chunks = []
    while count:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ChannelTimeout()
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                raise ChannelTimeout()
        chunk = os.read(fd, min(count, 1 << 20))
        if not chunk:
            raise ChannelClosed()
        chunks.append(chunk)
        count -= len(chunk)
    return b"".join(chunks)


def read_message(fd: int, load, deadline: float | None = None):
    (size,) = HEADER.unpack(_read_exactly(fd, HEADER.size, deadline))
    if size > MAX_MESSAGE_BYTES:
        raise ValueError(f"message of {size} bytes is over the {MAX_MESSAGE_BYTES} byte limit")
    return load(io.BytesIO(_read_exactly(fd, size, deadline)))
