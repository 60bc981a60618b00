"""Convergence measurement: how long the selection, then the kernel, took after a failure.

Sans-IO: every entry point takes ``now`` (the agent's clock); ``observe``
receives the figures (``agent.history.component`` puts them in the
``bmp_convergence_seconds`` histogram).

An *episode* opens on a Peer Down, or on the first withdraw of a burst from
one peer (withdraws of that peer's Adj-RIB-In views, pre or post policy), at
the agent's receive time ``start``. Withdraws of the same peer while the
episode is open join it (the burst). Its *affected* prefixes are the ones the
trigger withdrew (at most ``max_prefixes``; beyond that the episode is
marked ``truncated`` and the extra prefixes are not followed).

``rib`` stage
    The selection (Loc-RIB, or the agent's own decision process when the
    router sends none) stops changing for the affected prefixes: the stage
    ends at the last best-path change of an affected prefix (or the last
    withdraw of the burst when that is later), once nothing has changed for
    ``settle`` seconds. Value: end - start.
``fib`` stage
    Only for the router whose selection the FIB reconciler compares with
    this host's kernel. After the rib stage, at the first reconciler pass
    that finds none of the prefixes whose selection changed drifting: the
    stage ends at the last kernel route change of those prefixes, or at the
    rib stage's end when that is later (the kernel cannot match a selection
    before it is made). Value: end - start. Still drifting ``timeout``
    seconds after start: the episode closes with ``timed_out`` and the
    elapsed time (it lands in the histogram's ``+Inf`` bucket for the
    default timeout of 120 s).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

PrefixRef = tuple[int, int, bytes]  # afi, safi, prefix key

RIB = "rib"
FIB = "fib"
STAGES = (RIB, FIB)
#: ``bmp_convergence_seconds`` buckets: 10 ms to 120 s.
BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
#: Prefixes named per stage in "converged last".
LAST_PREFIXES = 10


class FibStatus(Protocol):
    """What convergence needs of the FIB reconciler (``agent.fib.reconciler``)."""

    @property
    def router_label(self) -> str: ...

    def drifting(self, afi: int, rd: str | None, prefix: bytes) -> str | None: ...


@dataclass(slots=True)
class Episode:
    router: str
    peer: str
    rd: str | None
    trigger: str  # "peer_down" or "withdraw"
    start: float
    start_bmp: float | None
    fib_expected: bool
    last_trigger: float = 0.0
    last_rib: float | None = None
    last_kernel: float | None = None
    affected: set[PrefixRef] = field(default_factory=set)
    #: prefixes whose selection changed → time of their last change
    changed: dict[PrefixRef, float] = field(default_factory=dict)
    #: prefixes whose kernel route changed → time of the last change
    kernel: dict[PrefixRef, float] = field(default_factory=dict)
    truncated: bool = False
    rib_end: float | None = None
    fib_end: float | None = None
    timed_out: bool = False
    superseded: bool = False

    def rib_seconds(self) -> float | None:
        return None if self.rib_end is None else self.rib_end - self.start

    def fib_seconds(self) -> float | None:
        return None if self.fib_end is None else self.fib_end - self.start

    @property
    def done(self) -> bool:
        return self.rib_end is not None and (
            not self.fib_expected or self.fib_end is not None or self.timed_out or self.superseded
        )


Observe = Callable[[str, str, float], None]


class Convergence:
    """Open episodes per (router, peer), the recent closed ones, and ``observe``."""

    def __init__(
        self,
        observe: Observe,
        *,
        settle: float = 2.0,
        timeout: float = 120.0,
        max_prefixes: int = 65536,
        keep: int = 16,
    ) -> None:
        self.observe = observe
        self.settle = settle
        self.timeout = timeout
        self.max_prefixes = max_prefixes
        self.open: dict[tuple[str, str], Episode] = {}
        self.recent: deque[Episode] = deque(maxlen=keep)
        self.fib: FibStatus | None = None

    # -- events --------------------------------------------------------------------

    def triggered(
        self,
        router: str,
        peer: str,
        rd: str | None,
        trigger: str,
        prefixes: Iterable[PrefixRef],
        now: float,
        bmp_time: float | None,
    ) -> None:
        """A Peer Down or withdraws of ``peer``'s routes: open or join its episode."""
        key = (router, peer)
        ep = self.open.get(key)
        new_kind = ep is not None and trigger == "peer_down" and ep.trigger != "peer_down"
        if ep is None or ep.rib_end is not None or new_kind:
            if ep is not None:
                self._finish(ep)
            fib = self.fib
            ep = Episode(
                router,
                peer,
                rd,
                trigger,
                now,
                bmp_time,
                fib_expected=fib is not None and fib.router_label == router,
            )
            self.open[key] = ep
        ep.last_trigger = now
        aff = ep.affected
        room = self.max_prefixes - len(aff)
        for ref in prefixes:
            if room <= 0:
                if ref not in aff:
                    ep.truncated = True
                    break
                continue
            if ref not in aff:
                aff.add(ref)
                room -= 1

    def best_changed(self, router: str, ref: PrefixRef, now: float) -> None:
        for ep in self.open.values():
            if ep.router == router and ep.rib_end is None and ref in ep.affected:
                ep.changed[ref] = now
                ep.last_rib = now

    def kernel_changed(self, router: str, ref: PrefixRef, now: float) -> None:
        for ep in self.open.values():
            if ep.router == router and ep.fib_expected and ref in ep.changed:
                ep.kernel[ref] = now
                ep.last_kernel = now

    # -- time passing ---------------------------------------------------------------

    def tick(self, now: float, *, fib_pass: bool = False) -> None:
        """Close the rib stage of settled episodes; with ``fib_pass`` (a reconciler
        pass just ended) check the fib stage of the rib-settled ones."""
        for key, ep in list(self.open.items()):
            if ep.rib_end is None:
                end = ep.last_trigger if ep.last_rib is None else max(ep.last_trigger, ep.last_rib)
                if now - end >= self.settle:
                    ep.rib_end = end
                    self.observe(ep.router, RIB, end - ep.start)
            if ep.rib_end is not None and ep.fib_expected and ep.fib_end is None:
                fib = self.fib
                if fib is None or fib.router_label != ep.router:
                    ep.fib_expected = False  # the FIB now follows another router
                elif fib_pass and self._in_sync(ep, fib):
                    ep.fib_end = max(ep.rib_end, ep.last_kernel or ep.rib_end)
                    self.observe(ep.router, FIB, ep.fib_end - ep.start)
                elif now - ep.start >= self.timeout:
                    ep.timed_out = True
                    self.observe(ep.router, FIB, now - ep.start)
            if ep.done:
                del self.open[key]
                self.recent.append(ep)

    def _in_sync(self, ep: Episode, fib: FibStatus) -> bool:
        return all(fib.drifting(afi, ep.rd, p) is None for afi, _safi, p in ep.changed)

    def _finish(self, ep: Episode) -> None:
        """A new episode of the same peer replaces an unfinished one: its rib stage
        ends now, its fib stage is abandoned (``superseded``, not observed)."""
        key = (ep.router, ep.peer)
        if ep.rib_end is None:
            end = ep.last_trigger if ep.last_rib is None else max(ep.last_trigger, ep.last_rib)
            ep.rib_end = end
            self.observe(ep.router, RIB, end - ep.start)
        if ep.fib_expected and ep.fib_end is None and not ep.timed_out:
            ep.superseded = True
        self.open.pop(key, None)
        self.recent.append(ep)

    # -- reading ---------------------------------------------------------------------

    @property
    def last(self) -> Episode | None:
        return self.recent[-1] if self.recent else None


def converged_last(
    times: dict[PrefixRef, float], n: int = LAST_PREFIXES
) -> list[tuple[PrefixRef, float]]:
    """The ``n`` prefixes with the latest times, latest first."""
    return sorted(times.items(), key=lambda kv: kv[1], reverse=True)[:n]


def episode_json(ep: Episode, describe: Callable[[PrefixRef], str]) -> dict[str, Any]:
    def stage(seconds: float | None, end: float | None, times: dict[PrefixRef, float]) -> Any:
        return {
            "seconds": seconds,
            "end": end,
            "converged_last": [
                {"prefix": describe(ref), "time": t} for ref, t in converged_last(times)
            ],
        }

    return {
        "router": ep.router,
        "peer": ep.peer,
        "trigger": ep.trigger,
        "start": ep.start,
        "start_bmp_time": ep.start_bmp,
        "prefixes": len(ep.affected),
        "truncated": ep.truncated,
        "best_path_changes": len(ep.changed),
        "done": ep.done,
        "rib": stage(ep.rib_seconds(), ep.rib_end, ep.changed),
        "fib": (
            {
                **stage(ep.fib_seconds(), ep.fib_end, ep.kernel),
                "timed_out": ep.timed_out,
                "superseded": ep.superseded,
            }
            if ep.fib_expected or ep.fib_end is not None or ep.timed_out
            else None
        ),
    }
