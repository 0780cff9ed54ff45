"""Length-prefixed messages over pipes, serialised with torch.save (its legacy, non-zip format).

The parent reads the child's answers with ``torch.load(weights_only=True)``: only
tensors and plain containers come back, so a hostile child cannot run code in the
parent through its answer.

The child's answers are sealed: the parent hands the child a fresh key as its very first message, before
any student code runs, and the child signs each answer with it and the answer's number (HMAC-SHA256). The
key lives only in the child's main loop (a local no student code can reach: frames, the garbage collector
and ``ctypes`` are refused there); bytes student code writes into the pipe by itself carry no valid seal,
and the parent refuses them as forged (:class:`ChannelForged`).
"""
from __future__ import annotations

import functools
import hmac
import io
import os
import select
import struct
import time

HEADER = struct.Struct("!Q")
MAX_MESSAGE_BYTES = 512 * 2**20
SEAL_BYTES = 32  # HMAC-SHA256
KEY_BYTES = 32


def new_key() -> bytes:
    return os.urandom(KEY_BYTES)


class ChannelClosed(EOFError):
    """The other end closed the pipe (usually: the child process died)."""


class ChannelTimeout(TimeoutError):
    """No complete message arrived before the deadline."""


class ChannelForged(ValueError):
    """A message whose seal is not the one the key and its number give: the child did not write it."""


def seal(key: bytes, number: int, payload: bytes) -> bytes:
    """The seal of the ``number``-th message of a child."""
    return hmac.digest(key, number.to_bytes(8, "big") + payload, "sha256")


def saver(torch_save):
    """``torch.save`` writing its legacy format: no zip archive around a message of a few small tensors,
    15-50% less CPU per message here; ``torch.load`` (``weights_only`` too) reads it as it reads the other."""
    return functools.partial(torch_save, _use_new_zipfile_serialization=False)


def encode(obj, save) -> bytes:
    buffer = io.BytesIO()
    save(obj, buffer)
    payload = buffer.getvalue()
    return HEADER.pack(len(payload)) + payload


def sealed_writer(fd: int, key: bytes, save, digest, write=os.write, pack=HEADER.pack, buffer=io.BytesIO):
    """The child's sender: each message sealed with ``key`` and its number. Everything it uses is bound here, in
    the closure (``digest`` is ``_hashlib.hmac_digest``, C, bound before student code ran): no module attribute a
    notebook could replace ever sees the key."""
    sent = [0]

    def send(obj) -> None:
        out = buffer()
        save(obj, out)
        payload = out.getvalue()
        mark = digest(key, sent[0].to_bytes(8, "big") + payload, "sha256")
        data = memoryview(pack(len(mark) + len(payload)) + mark + payload)
        while data:
            data = data[write(fd, data):]
        sent[0] += 1

    return send


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


def read_message(fd: int, load, deadline: float | None = None, sealed: tuple | None = None):
    """One message; with ``sealed`` = (key, number), its seal is checked before anything of it is read."""
    (size,) = HEADER.unpack(_read_exactly(fd, HEADER.size, deadline))
    if size > MAX_MESSAGE_BYTES:
        raise ValueError(f"message of {size} bytes is over the {MAX_MESSAGE_BYTES} byte limit")
    payload = _read_exactly(fd, size, deadline)
    if sealed is not None:
        key, number = sealed
        if size < SEAL_BYTES or not hmac.compare_digest(payload[:SEAL_BYTES], seal(key, number, payload[SEAL_BYTES:])):
            raise ChannelForged(f"message {number} does not carry the seal of the checker's child")
        payload = payload[SEAL_BYTES:]
    return load(io.BytesIO(payload))
