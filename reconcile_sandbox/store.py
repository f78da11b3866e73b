"""The sandbox's SQLite state: one database for every provider, the object store and the clock.

One connection, shared by every thread behind a lock. SQLite serialises writers anyway, the
handlers' statements take microseconds, and a single connection lets an in-memory database be
shared by the server thread and the test thread without URI tricks. On disk the database runs
in WAL mode (readers never block the writer; a crash loses nothing committed) with a busy
timeout in case another process (a second sandbox on the same folder) holds a lock.

Statements run in autocommit mode; ``transaction()`` groups several into one atomic write.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from reconcile_sandbox.clock import ClockAnchor

DATABASE_FILE = "sandbox.sqlite3"

_FRAMEWORK_SCHEMA = """
CREATE TABLE IF NOT EXISTS sandbox_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sandbox_objects (
    bucket TEXT NOT NULL,
    key TEXT NOT NULL,
    owner TEXT NOT NULL,
    public INTEGER NOT NULL,
    content_type TEXT,
    body BLOB NOT NULL,
    size INTEGER NOT NULL,
    created_wall REAL NOT NULL,
    PRIMARY KEY (bucket, key)
);
"""

Params = Sequence[Any] | dict[str, Any]


class Store:
    """Thread-safe access to the sandbox database."""

    def __init__(self, path: Path | None) -> None:
        """Open ``path`` (created if missing), or a private in-memory database when ``None``."""
        self.path = path
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        target = str(path) if path is not None else ":memory:"
        self._lock = threading.RLock()
        self._connection = sqlite3.connect(
            target, check_same_thread=False, isolation_level=None, timeout=10.0
        )
        self._connection.row_factory = sqlite3.Row
        if path is not None:
            self._connection.execute("PRAGMA journal_mode=WAL")
            # NORMAL under WAL is durable against application crashes, and fast enough for
            # hundreds of committed creates per second.
            self._connection.execute("PRAGMA synchronous=NORMAL")
        self._connection.execute("PRAGMA busy_timeout=10000")
        self.apply_schema(_FRAMEWORK_SCHEMA)

    @classmethod
    def in_folder(cls, data_dir: Path) -> Store:
        return cls(data_dir / DATABASE_FILE)

    def apply_schema(self, script: str) -> None:
        """Run ``CREATE TABLE IF NOT EXISTS ...`` statements (idempotent, so safe on restart)."""
        with self._lock:
            self._connection.executescript(script)

    def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; returns the number of rows it changed."""
        with self._lock:
            return self._connection.execute(sql, params).rowcount

    def executemany(self, sql: str, rows: Iterable[Params]) -> int:
        """Run one statement for many rows in a single transaction (bulk seeding)."""
        with self.transaction() as connection:
            return connection.executemany(sql, rows).rowcount

    def query(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._connection.execute(sql, params).fetchall()

    def query_one(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        with self._lock:
            row: sqlite3.Row | None = self._connection.execute(sql, params).fetchone()
            return row

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """An atomic group of statements: committed on success, rolled back on error."""
        with self._lock:
            self._connection.execute("BEGIN IMMEDIATE")
            try:
                yield self._connection
            except BaseException:
                self._connection.execute("ROLLBACK")
                raise
            self._connection.execute("COMMIT")

    def table_columns(self, table: str) -> list[str]:
        """The column names of ``table`` (empty if it does not exist)."""
        with self._lock:
            rows = self._connection.execute(
                "SELECT name FROM pragma_table_info(?)", (table,)
            ).fetchall()
        return [row["name"] for row in rows]

    def tables_with_prefix(self, prefix: str) -> list[str]:
        rows = self.query(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE ? ESCAPE '\\'",
            (prefix.replace("_", "\\_") + "%",),
        )
        return [row["name"] for row in rows]

    def get_meta(self, key: str) -> str | None:
        row = self.query_one("SELECT value FROM sandbox_meta WHERE key = ?", (key,))
        return None if row is None else str(row["value"])

    def set_meta(self, key: str, value: str) -> None:
        self.execute(
            "INSERT INTO sandbox_meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def load_clock(self) -> ClockAnchor | None:
        stored = self.get_meta("clock")
        if stored is None:
            return None
        fields = json.loads(stored)
        return ClockAnchor(
            sim=fields["sim"],
            real=fields["real"],
            advanced=fields["advanced"],
            speed=fields.get("speed"),  # absent in state saved before the speed was kept
        )

    def save_clock(self, anchor: ClockAnchor) -> None:
        self.set_meta(
            "clock",
            json.dumps(
                {
                    "sim": anchor.sim,
                    "real": anchor.real,
                    "advanced": anchor.advanced,
                    "speed": anchor.speed,
                }
            ),
        )

    def close(self) -> None:
        with self._lock:
            self._connection.close()
