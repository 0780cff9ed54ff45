"""Length-prefixed messages over pipes, their payload written by :mod:`checker.sandbox.wire` (``marshal`` data).

The parent reads the child's answers as data only (``marshal`` runs no code, tensors are built from their bytes),
so a hostile child cannot run code in the parent through its answer. Everything the child uses to read requests
and write answers is bound before student code runs (the wire's functions, ``os.read``, ``os.write``), so a
notebook that replaces a module's function reaches neither.

The child's answers are sealed: the parent hands the child a fresh key as its very first message, before
any student code runs, and the child signs each answer with it and the answer's number (HMAC-SHA256). The
key lives only in the child's main loop (a local no student code can reach: frames, the garbage collector
and ``ctypes`` are refused there); bytes student code writes into the pipe by itself carry no valid seal,
and the parent refuses them as forged (:class:`ChannelForged`).
"""
from __future__ import annotations

import hmac
import os
import select
import struct
import time

from checker.sandbox import wire

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


def encode(obj) -> bytes:
    payload = wire.encode(obj)
    return HEADER.pack(len(payload)) + payload


def sealed_writer(fd: int, key: bytes, digest, encode=wire.encode, write=os.write, pack=HEADER.pack):
    """The child's sender: each message sealed with ``key`` and its number. Everything it uses is bound here, in
    the closure (``digest`` is ``_hashlib.hmac_digest``, C, bound before student code ran): no module attribute a
    notebook could replace ever sees the key or the answer."""
    sent = [0]

    def send(obj) -> None:
        payload = encode(obj)
        mark = digest(key, sent[0].to_bytes(8, "big") + payload, "sha256")
        data = memoryview(pack(len(mark) + len(payload)) + mark + payload)
        while data:
            data = data[write(fd, data):]
        sent[0] += 1

    return send


def write_message(fd: int, obj) -> None:
    data = memoryview(encode(obj))
    while data:
        written = os.write(fd, data)
        data = data[written:]


def _read_exactly(fd: int, count: int, deadline: float | None, read=os.read, wait=select.select, smaller=min,
                  clock=time.monotonic) -> bytes:
    chunks = []
    while count:
        if deadline is not None:
            remaining = deadline - clock()
            if remaining <= 0:
                raise ChannelTimeout()
            ready, _, _ = wait([fd], [], [], remaining)
            if not ready:
                raise ChannelTimeout()
        chunk = read(fd, smaller(count, 1 << 20))
        if not chunk:
            raise ChannelClosed()
        chunks.append(chunk)
        count -= len(chunk)
    return b"".join(chunks)


def read_message(fd: int, deadline: float | None = None, sealed: tuple | None = None, decode=wire.decode):
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
    return decode(payload)
