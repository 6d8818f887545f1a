"""A connection's inbox: the CALLs read but not yet handled, at most ``size`` of them.

What ``asyncio.Queue(maxsize)`` does for one reader task and one worker task, in a few slots: an idle
connection (the usual state of a charger between heartbeats) holds an empty list and no waiter, where a Queue
holds four deques and an Event. Nodes hold tens of thousands of idle connections, so this is memory per
charger (``benchmarks/connection_memory.py``). Without a size it also stands in for the unbounded queue of
ASGI events uvicorn keeps per WebSocket (``adapters/server_options.py``), and ``Gate`` for its
``asyncio.Event`` of a writable socket.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Generic, TypeVar

T = TypeVar("T")


class Inbox(Generic[T]):
    """First in, first out; ``put`` waits while ``size`` items wait; one getter and one putter at a time."""

    __slots__ = ("_items", "_size", "_getter", "_putter")

    def __init__(self, size: int = sys.maxsize) -> None:
        self._items: list[T] = []
        self._size = size
        self._getter: asyncio.Future[None] | None = None
        self._putter: asyncio.Future[None] | None = None

    def __len__(self) -> int:
        return len(self._items)

    def empty(self) -> bool:
        return not self._items

    def put_nowait(self, item: T) -> None:
        """``put`` without waiting; ``asyncio.QueueFull`` if it would have to wait."""
        if len(self._items) >= self._size:
            raise asyncio.QueueFull
        self._items.append(item)
        _wake(self._getter)

    async def put(self, item: T) -> None:
        while len(self._items) >= self._size:
            self._putter = asyncio.get_running_loop().create_future()
            try:
                await self._putter
            finally:
                self._putter = None
        self._items.append(item)
        _wake(self._getter)

    async def get(self) -> T:
        while not self._items:
            self._getter = asyncio.get_running_loop().create_future()
            try:
                await self._getter
            finally:
                self._getter = None
        item = self._items.pop(0)
        _wake(self._putter)
        return item


class Gate:
    """``asyncio.Event``'s ``set``, ``clear``, ``is_set`` and ``wait``, with no deque while nobody waits."""

    __slots__ = ("_open", "_waiters")

    def __init__(self) -> None:
        self._open = False
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._open

    def set(self) -> None:
        self._open = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            _wake(waiter)

    def clear(self) -> None:
        self._open = False

    async def wait(self) -> bool:
        if self._open:
            return True
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)
        return True


def _wake(waiter: asyncio.Future[None] | None) -> None:
    if waiter is not None and not waiter.done():
        waiter.set_result(None)
