"""The daemon's Prometheus metrics, in a registry of its own (not the process-global one, so
several daemons in one process, as in tests, do not collide).

Every label takes values from a small fixed set (results, healths, actions, trigger sources,
known webhook events), so the number of series stays bounded whatever the daemon sees.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from reconciler.core.observed import Health

# Runs last from a fraction of a second (nothing to do) to many minutes (large uploads).
DURATION_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0)
METRICS_CONTENT_TYPE = CONTENT_TYPE_LATEST


class DaemonMetrics:
    """Counters, gauges and the run-duration histogram of one daemon."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.runs = Counter(
            "reconcile_runs",
            "Converge runs by result (success, error, invalid, skipped).",
            ["result"],
            registry=self.registry,
        )
        self.run_duration = Histogram(
            "reconcile_run_duration_seconds",
            "Wall-clock duration of converge runs.",
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.errors = Counter(
            "reconcile_errors",
            "Errors by kind: provider (could not be read), apply (a change failed),"
            " unconfirmed, invalid (specs), lock, pull, git, internal.",
            ["kind"],
            registry=self.registry,
        )
        self.jobs = Gauge(
            "reconcile_jobs",
            "Managed jobs by health, as of the last run that read the providers.",
            ["health"],
            registry=self.registry,
        )
        self.changes_applied = Counter(
            "reconcile_changes_applied",
            "Changes applied successfully, by action.",
            ["action"],
            registry=self.registry,
        )
        self.drift_corrections = Counter(
            "reconcile_drift_corrections",
            "Updates applied to bring a remote job back to its spec (e.g. access flipped).",
            registry=self.registry,
        )
        self.last_success = Gauge(
            "reconcile_last_success_timestamp_seconds",
            "Unix time of the last successful run (0: none yet).",
            registry=self.registry,
        )
        self.triggers = Counter(
            "reconcile_triggers",
            "Triggers received, by source (start, commit, file, timer, webhook).",
            ["source"],
            registry=self.registry,
        )
        self.webhook_events = Counter(
            "reconcile_webhook_events",
            "Webhook deliveries accepted, by event type (unknown types count as other).",
            ["event"],
            registry=self.registry,
        )
        for health in Health:
            self.jobs.labels(health=health.value).set(0)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
