"""An embedded emulator of the CLOUDWORK|PRO API (like stripe-mock or moto).

It is a real ``aiohttp.web`` server on loopback that serves the wire contract of the API from
seeded, deterministic data, with fault injection and webhook delivery. It imports nothing from the
client side of ``cwpro``; the only thing it shares with the SDK is the JSON on the wire.

- :class:`Emulator`: ``async with Emulator(seed=1) as emu: ...`` in the caller's event loop;
- :class:`EmulatorThread`: the same on a private event loop in a daemon thread (blocking code);
- :class:`EmulatorProcess`: ``python -m cwpro.emulator`` in a child process.
"""

from cwpro.emulator.clock import EmulatorClock
from cwpro.emulator.datasets import EmulatorState, StoredDocument
from cwpro.emulator.faults import FAULT_KINDS, Fault, FaultRegistry, parse_fault_spec
from cwpro.emulator.process import EmulatorProcess
from cwpro.emulator.server import Emulator
from cwpro.emulator.stats import EmulatorStats
from cwpro.emulator.thread import EmulatorThread
from cwpro.emulator.webhook_delivery import DeliveryAttempt, WebhookDispatcher, WebhookTarget

__all__ = [
    "FAULT_KINDS",
    "DeliveryAttempt",
    "Emulator",
    "EmulatorClock",
    "EmulatorProcess",
    "EmulatorState",
    "EmulatorStats",
    "EmulatorThread",
    "Fault",
    "FaultRegistry",
    "StoredDocument",
    "WebhookDispatcher",
    "WebhookTarget",
    "parse_fault_spec",
]
