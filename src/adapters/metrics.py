"""Prometheus metrics of one running node (``GET /metrics``), in a registry of its own per ``Runtime``.

Every label value comes from a fixed set, never from what a caller sends: OCPP actions are the 2.0.1 action
list (anything else is ``other``), results and outcomes are ``accepted``/``rejected``/``timeout``/``offline`` or
a 2.0.1 CALLERROR code, HTTP routes are route templates, methods the standard ones. No station id, message id or
user is ever a label.

The store figures (event store head, each projection's tracked position, the lag, ``cloudbay_store_up``) are
read from the databases at scrape time by ``StoreCollector``, so they are the projector process's figures too.
The read runs in one thread of its own with a short timeout: a scrape during a store outage still answers
quickly, with ``cloudbay_store_up 0`` and every in-process metric.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from ocpp.v201.enums import Action
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector

from adapters.ocpp.rpc_schema import OCPP201_ERROR_CODES
from projections.db import ReadModelDB
from projections.follower import tracked_position

log = logging.getLogger("cloudbay.metrics")

ACTIONS: frozenset[str] = frozenset(a.value for a in Action)
OTHER = "other"
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
ERROR_CODES: frozenset[str] = frozenset(OCPP201_ERROR_CODES)
STORE_READ_TIMEOUT = 2.0  # seconds a scrape waits for the store figures before it reports the store down
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100)
__all__ = ["CONTENT_TYPE_LATEST", "Metrics", "StoreCollector", "StoreFigures", "action_label", "store_reader"]


def action_label(action: str | None) -> str:
    """An OCPP 2.0.1 action name, or ``other`` (a charger may send any string as an action)."""
    return action if action in ACTIONS else OTHER  # type: ignore[return-value]


def code_label(code: str) -> str:
    """A 2.0.1 CALLERROR code, or ``other``."""
    return code if code in ERROR_CODES else OTHER


@dataclass(frozen=True)
class StoreFigures:
    head: int
    positions: dict[str, int]  # projection name -> tracked position


def store_reader(head: Callable[[], int], db: ReadModelDB, names: Iterable[str]) -> Callable[[], StoreFigures]:
    """Reads the event store head, then each projection's tracked position from the read-model database."""
    names = tuple(names)

    def read() -> StoreFigures:
        at = head()
        with db.transaction(write=False) as tx:
            return StoreFigures(at, {name: tracked_position(tx, name) for name in names})

    return read


class StoreCollector:
    """Exports the store figures, read at scrape time by ``read`` in one thread with a timeout.

    At most one read is in flight: while one is stuck (an unreachable database), later scrapes wait for that
    same read (up to the timeout) instead of starting another, so an outage never piles up threads.
    """

    def __init__(self, read: Callable[[], StoreFigures], timeout: float = STORE_READ_TIMEOUT) -> None:
        self.read = read
        self.timeout = timeout
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="metrics-store")
        self._lock = threading.Lock()
        self._inflight: Future[StoreFigures] | None = None

    def figures(self) -> StoreFigures | None:
        """The figures, or None if the store could not be read in time (or failed)."""
        with self._lock:
            if self._inflight is None or self._inflight.done():
                self._inflight = self._executor.submit(self.read)
            inflight = self._inflight
        try:
            return inflight.result(timeout=self.timeout)
        except TimeoutError:
            log.warning("metrics: the store did not answer within %.1f s", self.timeout)
        except Exception as e:
            log.warning("metrics: the store could not be read: %s: %s", type(e).__name__, e)
        return None

    def describe(self) -> Iterable[Metric]:
        return self._families(None)

    def collect(self) -> Iterable[Metric]:
        return self._families(self.figures())

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    @staticmethod
    def _families(figures: StoreFigures | None) -> Iterator[Metric]:
        up = GaugeMetricFamily("cloudbay_store_up", "1 if the event store and the read models answered this scrape")
        up.add_metric([], 0 if figures is None else 1)
        yield up
        head = GaugeMetricFamily("cloudbay_event_store_head_position", "Notification id of the last stored event")
        position = GaugeMetricFamily(
            "cloudbay_projection_position",
            "Event position a projection has applied (rm_tracking)",
            labels=["projection"],
        )
        lag = GaugeMetricFamily(
            "cloudbay_projection_lag_events",
            "Event positions between the store head and a projection",
            labels=["projection"],
        )
        if figures is not None:
            head.add_metric([], figures.head)
            for name, at in sorted(figures.positions.items()):
                position.add_metric([name], at)
                lag.add_metric([name], max(figures.head - at, 0))
        yield from (head, position, lag)


class Metrics:
    """The node's instruments and the registry ``/metrics`` serves."""

    def __init__(self, connected: Callable[[], int], store: Callable[[], StoreFigures]) -> None:
        r = self.registry = CollectorRegistry()
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)
        Gauge("cloudbay_chargers_connected", "OCPP sessions held by this node", registry=r).set_function(connected)
        self.ocpp_messages = Counter(
            "cloudbay_ocpp_messages",
            "Messages from chargers answered, by action and result (accepted or the CALLERROR code)",
            ["action", "result"],
            registry=r,
        )
        self.ocpp_seconds = Histogram(
            "cloudbay_ocpp_message_duration_seconds",
            "Time to handle and answer a charger's message",
            ["action"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.commit_seconds = Histogram(
            "cloudbay_store_commit_duration_seconds",
            "Time to write one group-commit batch",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.commit_batch = Histogram(
            "cloudbay_store_commit_batch_size",
            "Saves written in one group-commit batch",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.commits = Counter("cloudbay_store_commits", "Group-commit batches by result", ["result"], registry=r)
        self.csms_calls = Counter(
            "cloudbay_csms_calls",
            "CSMS-initiated calls by action and outcome (accepted, rejected, timeout, offline or the CALLERROR code)",
            ["action", "outcome"],
            registry=r,
        )
        self.csms_seconds = Histogram(
            "cloudbay_csms_call_duration_seconds",
            "Time until a CSMS-initiated call was answered or failed",
            ["action"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.http_requests = Counter(
            "cloudbay_http_requests",
            "HTTP requests by route template, method and status",
            ["route", "method", "status"],
            registry=r,
        )
        self.http_seconds = Histogram(
            "cloudbay_http_request_duration_seconds",
            "HTTP request latency by route template and method",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.store = StoreCollector(store)
        r.register(self.store)

    def observe_ocpp(self, action: str | None, result: str, seconds: float) -> None:
        label = action_label(action)
        self.ocpp_messages.labels(label, result if result == "accepted" else code_label(result)).inc()
        self.ocpp_seconds.labels(label).observe(seconds)

    def observe_commit(self, batch_size: int, seconds: float, ok: bool) -> None:
        self.commit_seconds.observe(seconds)
        self.commit_batch.observe(batch_size)
        self.commits.labels("ok" if ok else "failed").inc()

    def observe_csms_call(self, action: str, outcome: str, seconds: float) -> None:
        label = action_label(action)
        known = outcome in ("accepted", "rejected", "timeout", "offline")
        self.csms_calls.labels(label, outcome if known else code_label(outcome)).inc()
        self.csms_seconds.labels(label).observe(seconds)

    def observe_http(self, route: str, method: str, status: int, seconds: float) -> None:
        method = method if method in HTTP_METHODS else OTHER
        self.http_requests.labels(route, method, str(status)).inc()
        self.http_seconds.labels(route, method).observe(seconds)

    def exposition(self) -> bytes:
        """The text format of everything (blocks up to the store read timeout: call it off the event loop)."""
        return generate_latest(self.registry)

    def close(self) -> None:
        self.store.close()
