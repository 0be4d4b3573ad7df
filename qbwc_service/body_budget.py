"""A process-wide budget of request-body bytes held in memory at once.

The SOAP transport takes bytes from a budget before it holds them and gives them back once the request is
answered, so the bodies in memory never exceed the budget, whatever number of requests arrive together. It
lives on the event loop (every call is made from it); a request waiting for room waits there, without a
thread.
"""

from __future__ import annotations

import asyncio
import contextlib


class BodyBudget:
    def __init__(self, total: int) -> None:
        self.total = total
        self.held = 0
        self._waiters: list[asyncio.Future[None]] = []

    def try_take(self, size: int) -> bool:
        """Take ``size`` bytes if there is room for them now."""
        if self.held + size > self.total:
            return False
        self.held += size
        return True

    async def take(self, size: int, timeout: float) -> bool:
        """Take ``size`` bytes, waiting up to ``timeout`` seconds for room; False when there was none."""
        if size > self.total:
            return False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.try_take(size):
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.append(waiter)
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(waiter, remaining)
            finally:
                self._waiters.remove(waiter)
        return True

    def give_back(self, size: int) -> None:
        self.held -= size
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)


class Holding:
    """What one request holds of each budget; :meth:`release` gives it all back (once)."""

    def __init__(self) -> None:
        self._held: dict[int, tuple[BodyBudget, int]] = {}

    def add(self, budget: BodyBudget, size: int) -> None:
        _, held = self._held.get(id(budget), (budget, 0))
        self._held[id(budget)] = (budget, held + size)

    def release(self, budget: BodyBudget | None = None) -> None:
        for key, (held_budget, size) in list(self._held.items()):
            if budget is None or held_budget is budget:
                held_budget.give_back(size)
                del self._held[key]
