"""One context-manager protocol for every lab process and topology.

``with thing:`` starts it unless it already runs and always tears it down on
the way out, also when the block raised (``failed``: a speaker then stops
hard instead of gracefully). Subclasses say how: ``_running``, ``start``,
``_teardown``.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self


class Harness:
    def _running(self) -> bool:
        raise NotImplementedError

    def start(self) -> None:
        raise NotImplementedError

    def _teardown(self, failed: bool) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        if not self._running():
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._teardown(exc_type is not None)
