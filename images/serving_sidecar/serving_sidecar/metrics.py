"""The sidecar's Prometheus metrics, on a registry of their own (one per proxy instance).

No label carries anything with many values: the status code (at most a few dozen values) and
the capture outcome (four values). Never the event id, the client or the path.
"""

from __future__ import annotations

from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from serving_sidecar import settings

Outcome = Literal["captured", "not_sampled", "too_large", "failed"]
OUTCOMES: tuple[Outcome, ...] = ("captured", "not_sampled", "too_large", "failed")

# Model serving latencies: a fast tabular model answers in milliseconds, a large one in
# seconds; SageMaker's own limit is 60 s, anything past 10 s falls in +Inf.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The counters, gauges and histogram of one proxy, registered on `registry`."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        # prometheus_client appends `_total` to counters itself: give it the base name.
        self.requests = Counter(
            settings.METRIC_REQUESTS.removesuffix("_total"),
            "Invocations answered by the sidecar, by HTTP status code.",
            ["code"],
            registry=self.registry,
        )
        self.duration = Histogram(
            settings.METRIC_DURATION,
            "Time from an invocation's arrival to its answer (seconds).",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            settings.METRIC_IN_FLIGHT,
            "Invocations being answered now.",
            registry=self.registry,
        )
        self.capture_records = Counter(
            settings.METRIC_CAPTURE_RECORDS.removesuffix("_total"),
            "Successful invocations by capture outcome: captured (written to S3), not_sampled, "
            "too_large (record over 1 MiB), failed (dropped: buffer full or S3 failed twice).",
            ["outcome"],
            registry=self.registry,
        )
        self.capture_buffered = Gauge(
            settings.METRIC_CAPTURE_BUFFERED,
            "Capture records held in memory, waiting for the next flush.",
            registry=self.registry,
        )
        self.capture_upload_failures = Counter(
            settings.METRIC_CAPTURE_UPLOAD_FAILURES.removesuffix("_total"),
            "Capture objects S3 refused or failed to store (their records are retried once).",
            registry=self.registry,
        )
        # Every outcome shows from the start, at 0, so a rate() over it is defined at once.
        for outcome in OUTCOMES:
            self.capture_records.labels(outcome=outcome)
