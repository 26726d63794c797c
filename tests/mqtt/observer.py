"""A plain aiomqtt subscriber for the MQTT tests: what any consumer of a hub's topics sees."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiomqtt

from sensorhub.mqtt import protocol as mp


@dataclass
class Observed:
    topic: str
    retain: bool
    event: Any
    envelope: mp.Envelope | None


@dataclass
class Observer:
    """A plain aiomqtt subscriber with a persistent session (QoS 1), reconnecting after a
    broker restart, so the broker keeps what it missed, as a real consumer would."""

    port: int
    topic: str
    identifier: str
    username: str | None = None
    password: str | None = None
    seen: list[Observed] = field(default_factory=list)
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        while True:
            try:
                async with aiomqtt.Client(
                    "127.0.0.1",
                    self.port,
                    identifier=self.identifier,
                    clean_session=False,
                    username=self.username,
                    password=self.password,
                ) as client:
                    await client.subscribe(self.topic, qos=1)
                    self.ready.set()
                    async for message in client.messages:
                        assert isinstance(message.payload, bytes)
                        event, envelope = mp.decode_message(message.payload)
                        self.seen.append(
                            Observed(str(message.topic), message.retain, event, envelope)
                        )
            except aiomqtt.MqttError:
                await asyncio.sleep(0.1)

    def enveloped(self) -> list[Observed]:
        return [o for o in self.seen if o.envelope is not None]

    async def wait_for(self, predicate: Callable[[], bool], timeout_s: float = 20.0) -> None:
        await wait_for(predicate, timeout_s)


async def wait_for(predicate: Callable[[], bool], timeout_s: float = 20.0) -> None:
    """Poll until ``predicate()`` holds (a TimeoutError fails the test)."""

    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), timeout_s)


@contextlib.asynccontextmanager
async def observing(
    port: int, topic: str, name: str = "observer", **credentials: str
) -> AsyncIterator[Observer]:
    observer = Observer(port, topic, name, **credentials)
    task = asyncio.create_task(observer.run())
    try:
        await asyncio.wait_for(observer.ready.wait(), 10)
        yield observer
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
