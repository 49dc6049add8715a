"""Capture of successful invocations: SageMaker data-capture records, buffered, written to S3.

Records are built by `capture_format.capture_record` (shared with the capture proxy Lambda in
lambdas/capture_proxy), held in a bounded in-memory buffer and written by a background thread
as JSON Lines objects under SageMaker's layout (`settings.capture_key`), one object per hour
of inference time in each flush, SSE-KMS. Capture never blocks or breaks inference: `offer`
only appends to a list under a lock; a full buffer drops the new record; an S3 failure is
logged, counted and retried once at the next flush.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from capture_format import capture_record, sampled

from serving_sidecar import settings
from serving_sidecar.config import CaptureConfig
from serving_sidecar.metrics import Metrics, Outcome

logger = logging.getLogger("serving_sidecar.capture")

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Pending:
    """One record waiting for a flush."""

    data: bytes
    hour: datetime
    """The hour (UTC) of its inference time: the folder it is filed under."""
    retried: bool = False


class CaptureBuffer:
    """The bounded buffer and its background flusher."""

    def __init__(
        self, config: CaptureConfig, s3: Any, metrics: Metrics, clock: Clock = utc_now
    ) -> None:
        self._config = config
        self._s3 = s3
        self._metrics = metrics
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: list[Pending] = []
        self._bytes = 0
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._seq = itertools.count(1)

    # ---- the request side: never blocks on I/O, never raises --------------------------------

    def offer(
        self,
        event_id: str,
        received: datetime,
        request: tuple[str | None, bytes],
        response: tuple[str | None, bytes],
        *,
        inference_id: str | None = None,
    ) -> Outcome:
        """Capture one successful invocation (content type and body of each side);
        `inference_id`, the id the caller gave, becomes the record's `inferenceId`."""
        outcome: Outcome
        try:
            outcome = self._offer(event_id, received, request, response, inference_id)
        except Exception:
            logger.exception("capture record not built", extra={"event_id": event_id})
            outcome = "failed"
        if outcome != "captured":
            self._metrics.capture_records.labels(outcome=outcome).inc()
        return outcome

    def _offer(
        self,
        event_id: str,
        received: datetime,
        request: tuple[str | None, bytes],
        response: tuple[str | None, bytes],
        inference_id: str | None,
    ) -> Outcome:
        if not sampled(event_id, self._config.sampling_percent):
            return "not_sampled"
        data = capture_record(event_id, received, *request, *response, inference_id=inference_id)
        if len(data) > settings.MAX_RECORD_BYTES:
            logger.warning(
                "capture record over the size limit; not captured",
                extra={"event_id": event_id, "bytes": len(data)},
            )
            return "too_large"
        hour = received.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        with self._lock:
            if len(self._pending) >= self._config.max_buffer_records:
                full = None
            else:
                self._pending.append(Pending(data, hour))
                self._bytes += len(data)
                full = (
                    len(self._pending) >= self._config.flush_records
                    or self._bytes >= self._config.flush_bytes
                )
            self._metrics.capture_buffered.set(len(self._pending))
        if full is None:
            logger.warning(
                "capture buffer full; record dropped",
                extra={"event_id": event_id, "max_records": self._config.max_buffer_records},
            )
            return "failed"
        if full:
            self._wake.set()
        # Counted `captured` once it is in S3 (by `flush`); "buffered" until then.
        return "captured"

    # ---- the background side ----------------------------------------------------------------

    def start(self) -> None:
        """Start the flusher: every `flush_seconds`, or as soon as a threshold is reached."""
        self._thread = threading.Thread(target=self._run, name="capture-flusher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._config.flush_seconds)
            self._wake.clear()
            if self._stop.is_set():
                break
            self.flush()

    def close(self, timeout: float | None = None) -> None:
        """Stop the flusher and write what is buffered (the last flush, on shutdown)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.flush()

    def buffered(self) -> int:
        with self._lock:
            return len(self._pending)

    def flush(self) -> int:
        """Write the buffered records, one object per hour folder; the number written.

        Never raises. Records of an object S3 did not store go back to the front of the buffer
        once (room permitting); the second time they are dropped and counted `failed`.
        """
        with self._flush_lock:
            with self._lock:
                batch, self._pending, self._bytes = self._pending, [], 0
                self._metrics.capture_buffered.set(0)
            if not batch:
                return 0
            groups: dict[datetime, list[Pending]] = {}
            for item in batch:
                groups.setdefault(item.hour, []).append(item)
            written = 0
            again: list[Pending] = []
            stamp = _stamp(self._clock())
            for hour in sorted(groups):
                items = groups[hour]
                if self._put(hour, stamp, items):
                    written += len(items)
                    self._metrics.capture_records.labels(outcome="captured").inc(len(items))
                else:
                    again.extend(replace(item, retried=True) for item in items if not item.retried)
                    lost = sum(1 for item in items if item.retried)
                    if lost:
                        self._metrics.capture_records.labels(outcome="failed").inc(lost)
            if again:
                self._requeue(again)
            return written

    def _put(self, hour: datetime, stamp: str, items: list[Pending]) -> bool:
        cfg = self._config
        key = settings.capture_key(
            cfg.endpoint, cfg.variant, hour, stamp=stamp, pod=cfg.pod, seq=next(self._seq)
        )
        try:
            self._s3.put_object(
                Bucket=cfg.bucket,
                Key=key,
                Body=b"".join(item.data for item in items),
                ContentType="application/jsonl",
                ServerSideEncryption="aws:kms",
                SSEKMSKeyId=cfg.kms_key_arn,
            )
        except Exception:
            logger.exception(
                "capture object not written; its records are retried once at the next flush",
                extra={"bucket": cfg.bucket, "key": key, "records": len(items)},
            )
            self._metrics.capture_upload_failures.inc()
            return False
        logger.info(
            "capture object written",
            extra={"bucket": cfg.bucket, "key": key, "records": len(items)},
        )
        return True

    def _requeue(self, items: list[Pending]) -> None:
        with self._lock:
            room = max(0, self._config.max_buffer_records - len(self._pending))
            kept = items[:room]
            dropped = len(items) - len(kept)
            self._pending[:0] = kept
            self._bytes += sum(len(item.data) for item in kept)
            self._metrics.capture_buffered.set(len(self._pending))
        if dropped > 0:
            self._metrics.capture_records.labels(outcome="failed").inc(dropped)
            logger.warning("capture buffer full; records to retry dropped", extra={"n": dropped})


def _stamp(moment: datetime) -> str:
    """`20261127T100000123Z`: the flush time in object names, sortable."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y%m%dT%H%M%S") + f"{utc.microsecond // 1000:03d}Z"
