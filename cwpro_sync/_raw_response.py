"""``with_raw_response`` of the blocking client: hand-written, next to the generated twins.

The async resources' ``with_raw_response`` proxies are not mirrored method by method: one
:class:`RawResponseProxy` wraps whichever proxy a resource returns and runs each of its calls
through the client's :class:`cwpro_sync._bridge.Bridge`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cwpro_sync._bridge import Bridge

__all__ = ["RawResponseProxy"]


class RawResponseProxy:
    """``resource.with_raw_response`` of the blocking client: the same calls, blocking.

    Each returns the :class:`cwpro.APIResponse` (``.parse()`` gives the usual result).
    """

    def __init__(self, bridge: Bridge, proxy: Any) -> None:
        self._bridge, self._proxy = bridge, proxy

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method, bridge = getattr(self._proxy, name), self._bridge

        def call(*args: Any, **kwargs: Any) -> Any:
            return bridge.run(method(*args, **kwargs))

        call.__name__, call.__doc__ = name, method.__doc__
        return call

    def __repr__(self) -> str:
        return repr(self._proxy).replace("cwpro.AsyncClient", "cwpro_sync.Client", 1)
