"""Webhooks: an alert POSTed as JSON to a rule's URL, from a background thread.

Sending never blocks ingest: the URL and alert id are queued after the transaction
commits; one daemon thread posts them with a short timeout and logs failures.
"""

import json
import logging
import queue
import threading
import urllib.error
import urllib.request

from django.db import transaction

log = logging.getLogger("tracking.webhooks")
TIMEOUT_SECONDS = 3.0
_queue: "queue.Queue[tuple[str, int]]" = queue.Queue(maxsize=10000)
_thread: threading.Thread | None = None
_lock = threading.Lock()


def alert_payload(alert_id: int) -> dict:
    from tracking.models import Alert

    alert = Alert.objects.select_related("rule", "device", "asset", "company").get(pk=alert_id)
    return {
        "id": alert.pk,
        "rule": alert.rule.name,
        "rule_id": alert.rule_id,
        "kind": alert.rule.kind,
        "level": alert.level,
        "status": alert.status,
        "message": alert.message,
        "company": alert.company.code,
        "device": alert.device.code if alert.device else None,
        "asset": alert.asset.code if alert.asset else None,
        "subject": alert.subject,
        "lon": alert.geom.x if alert.geom else None,
        "lat": alert.geom.y if alert.geom else None,
        "triggered_at": alert.triggered_at.isoformat(),
        "opened_at": alert.opened_at.isoformat(),
    }


def post(url: str, payload: dict) -> int:
    """POST `payload` as JSON; the HTTP status. Raises OSError on network failure."""
    body = json.dumps(payload, ensure_ascii=False).encode()
    request = urllib.request.Request(  # noqa: S310 - URL validated as http(s) by the model
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
        return response.status


def _run() -> None:
    from django.db import close_old_connections

    while True:
        url, alert_id = _queue.get()
        try:
            payload = alert_payload(alert_id)
            post(url, payload)
        except (OSError, urllib.error.URLError, ValueError) as exc:
            log.warning("webhook %s for alert %s failed: %s", url, alert_id, exc)
        finally:
            close_old_connections()
            _queue.task_done()


def _ensure_thread() -> None:
    global _thread
    with _lock:
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_run, name="tracking-webhooks", daemon=True)
            _thread.start()


def send_on_commit(url: str, alert_id: int) -> None:
    """Queue the webhook once the current transaction commits (never if it rolls back)."""

    def enqueue() -> None:
        _ensure_thread()
        try:
            _queue.put_nowait((url, alert_id))
        except queue.Full:
            log.warning("webhook queue full; alert %s not sent to %s", alert_id, url)

    transaction.on_commit(enqueue)


def drain(timeout: float = 5.0) -> None:
    """Wait until queued webhooks are sent (for commands that exit and for tests)."""
    import time

    deadline = time.monotonic() + timeout
    while _queue.unfinished_tasks and time.monotonic() < deadline:
        time.sleep(0.02)
