"""The batch API's client: the openai SDK's files and batches calls, each whole call bounded.

The SDK's timeout bounds the gap between bytes only, so an API answering one byte a second would
hold `--batch` forever. Here each call (its retries included) runs on the SDK's async client
under `asyncio.timeout`, on an event loop of its own in the (blocking) batch driver's thread;
past the deadline it is a BatchError naming the call, one line, and what was merged is kept.
`client.files.create(...)`, `client.batches.retrieve(...)`: the same calls as openai.OpenAI.
"""
from __future__ import annotations

import asyncio
from typing import Any

import openai

from collectkit.collect.batch.output import BatchError
from collectkit.collect.faults import redact_url


class BoundedClient:
    """A blocking view of `openai.AsyncOpenAI` whose every call ends within `timeout` s."""

    def __init__(self, base_url: str, api_key: str, *, timeout: float, max_retries: int) -> None:
        self.where, self.timeout = redact_url(base_url), timeout
        self._runner = asyncio.Runner()
        self._client = openai.AsyncOpenAI(base_url=base_url, api_key=api_key, timeout=timeout,
                                          max_retries=max_retries)
        self.files, self.batches = _Calls(self, "files"), _Calls(self, "batches")

    def call(self, resource: str, method: str, *args: Any, **kwargs: Any) -> Any:
        async def bounded() -> Any:
            async with asyncio.timeout(self.timeout):
                return await getattr(getattr(self._client, resource), method)(*args, **kwargs)

        try:
            return self._runner.run(bounded())
        except TimeoutError:
            raise BatchError(f"cut off: the batch API at {self.where} gave no complete answer "
                             f"to {resource}.{method} within {self.timeout:g} s "
                             "(--request_timeout, the whole call); run the same command "
                             "again to go on") from None

    def close(self) -> None:
        try:
            self._runner.run(self._client.close())
        finally:
            self._runner.close()

    def __enter__(self) -> "BoundedClient":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


class _Calls:
    def __init__(self, owner: BoundedClient, resource: str) -> None:
        self._owner, self._resource = owner, resource

    def __getattr__(self, method: str) -> Any:
        return lambda *args, **kwargs: self._owner.call(self._resource, method, *args, **kwargs)
