"""Scale-out on PostgreSQL: one API process and three worker processes on one database.

Every webhook has its own path on the receiver and a secret, so each request
carries `webhook-id` (the event id): (webhook-id, path) names one delivery, and
the receiver's count of each is how many times that delivery arrived. Which
process sent a request is told by its source port: the test reads the ports of
a worker's sockets from /proc while the worker is frozen.

Sizes: (a) is the full 10,000 events x 20 webhooks. The worker spends about
0.5 ms of CPU per delivery, so on a 2-core machine (a) alone takes minutes;
(b) and (c) use 500 events x 20 webhooks, which shows the same behaviour.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.acceptance.conftest import create_event_type, create_webhook
from tests.support.polling import eventually_sync
from tests.support.postgres import run_outside_loop
from tests.support.receiver import Receiver, Reply, Request
from tests.support.server import HookdProcess

WEBHOOKS = 20
BATCH = 1000  # events per POST …/events/batch
CONCURRENCY = 200  # HOOKD_CONCURRENCY of every worker

Delivery = tuple[str, str]  # (webhook-id, path)


class Cluster:
    """An API process (no worker) and worker processes on one PostgreSQL database."""

    def __init__(self, db_url: str, workdir: Path, receiver: Receiver) -> None:
        self.db_url = db_url
        self.workdir = workdir
        self.receiver = receiver
        self.api_process = HookdProcess(db_url, workdir, args=("--no-worker",))
        self.workers: list[HookdProcess] = []
        self.webhook_ids: dict[str, str] = {}  # by path

    def start(self, workers: int, **settings: Any) -> None:
        """Start the API and `workers` workers, all at once; wait until each is ready."""
        self.workers = [
            HookdProcess(
                self.db_url, self.workdir, command="worker", concurrency=CONCURRENCY, **settings
            )
            for _ in range(workers)
        ]
        for process in [self.api_process, *self.workers]:
            process.start(wait=False)
        for process in [self.api_process, *self.workers]:
            process.wait_ready()

    def subscribe(self, webhooks: int) -> dict[str, str]:
        """Create `webhooks` signed webhooks, each on its own path; return their ids by path."""
        made: dict[str, str] = {}
        with self.api_process.client() as api:
            create_event_type(api, "job.success")
            for path in (f"/wh/{n}" for n in range(webhooks)):
                webhook = create_webhook(api, self.receiver.url + path, events=["job.success"])
                assert webhook["secret"].startswith("whsec_")  # so webhook-id is sent
                made[path] = webhook["id"]
        self.webhook_ids = made
        return made

    def publish(self, events: int) -> list[str]:
        """Publish `events` events in batches; return their ids."""
        ids: list[str] = []
        with self.api_process.client() as api:
            for start in range(0, events, BATCH):
                batch = [
                    {"type": "job.success", "data": {"n": n}}
                    for n in range(start, min(start + BATCH, events))
                ]
                r = api.post("/v1/apps/default/events/batch", json={"events": batch})
                assert r.status_code == 202, r.text
                ids.extend(item["id"] for item in r.json()["data"])
        return ids

    def arrivals(self) -> dict[Delivery, list[Request]]:
        """Return every request received, by the delivery it carried."""
        found: dict[Delivery, list[Request]] = collections.defaultdict(list)
        for request in self.receiver.received():
            found[request.headers["webhook-id"], request.path].append(request)
        return found

    def query(self, sql: str) -> list[Any]:
        """Read straight from the database."""

        async def fetch() -> list[Any]:
            conn = await asyncpg.connect(self.db_url)
            try:
                return list(await conn.fetch(sql))
            finally:
                await conn.close()

        return run_outside_loop(lambda: asyncio.run(fetch()))

    def leases(self) -> dict[tuple[str, str], str]:
        """Return the claim token of each delivery being sent, by (event id, webhook id)."""
        rows = self.query(
            "SELECT event_id, webhook_id, claim_token FROM deliveries WHERE status = 'sending'"
        )
        return {(r["event_id"], r["webhook_id"]): r["claim_token"] for r in rows}

    def all_succeeded(self, expected: int, *, timeout: float) -> None:
        def statuses() -> dict[str, int]:
            rows = self.query("SELECT status, count(*) AS n FROM deliveries GROUP BY 1")
            return {r["status"]: r["n"] for r in rows}

        try:
            eventually_sync(
                lambda: statuses() == {"succeeded": expected},
                timeout=timeout,
                interval=0.25,
                what=f"all {expected} deliveries to be recorded as succeeded",
            )
        except AssertionError as timed_out:
            raise AssertionError(f"{timed_out}; {self.unfinished()}") from None

    def unfinished(self) -> str:
        """Describe what is not succeeded yet: counts by status and a few examples."""
        counts = self.query("SELECT status, count(*) AS n FROM deliveries GROUP BY 1")
        examples = self.query(
            "SELECT d.status, d.attempts, d.next_attempt_at - extract(epoch FROM now()) AS due_in,"
            " (SELECT concat_ws(' ', a.outcome, a.response_status, a.error_code, a.error_message)"
            "  FROM attempts a WHERE a.delivery_id = d.id ORDER BY a.number DESC LIMIT 1) AS last"
            " FROM deliveries d WHERE d.status <> 'succeeded' LIMIT 5"
        )
        webhooks = self.query(
            "SELECT enabled, circuit_open_until IS NOT NULL AS open, count(*) AS n"
            " FROM webhooks GROUP BY 1, 2"
        )
        sessions = self.query(
            "SELECT state, wait_event_type AS waits, wait_event AS on,"
            " extract(epoch FROM now() - state_change)::int AS for_s, left(query, 50) AS query,"
            " (SELECT count(*) FROM pg_locks l WHERE l.pid = a.pid) AS locks,"
            " (SELECT setting FROM pg_settings WHERE name = 'idle_in_transaction_session_timeout')"
            " AS mine FROM pg_stat_activity a"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return (
            f"by status {[dict(r) for r in counts]}; e.g. {[dict(r) for r in examples]}; "
            f"webhooks {[dict(r) for r in webhooks]}; sessions {[dict(r) for r in sessions]}"
        )

    def freeze_while_sending(self, worker: HookdProcess, tries: int = 5) -> set[int]:
        """SIGSTOP `worker` at a moment it has requests out whose outcome is unrecorded.

        Returns the local ports of its connections. Between tries it runs again
        until the receiver has seen more requests.
        """
        assert worker.proc is not None
        for _ in range(tries):
            seen = len(self.receiver.received())
            worker.signal(signal.SIGSTOP)
            ports = source_ports(worker.proc.pid, self.receiver.port)
            sending = self.leases()
            if any(
                (event, self.webhook_ids[path]) in sending
                and any(port_of(r) in ports for r in requests)
                for (event, path), requests in self.arrivals().items()
            ):
                return ports
            worker.signal(signal.SIGCONT)
            self.receiver.wait_for(seen + 200, timeout=60)
        raise AssertionError(f"the worker never held a sent, unrecorded delivery in {tries} tries")

    def stop(self) -> None:
        for process in [*self.workers, self.api_process]:
            if process.proc is not None and process.proc.poll() is None:
                process.proc.send_signal(signal.SIGCONT)  # a frozen process must be able to stop
            process.kill()


def source_ports(pid: int, remote_port: int) -> set[int]:
    """Return the local ports of process `pid`'s TCP sockets connected to `remote_port`.

    Only those: a port of its database connections may be the very number
    another worker's connection to the receiver has.
    """
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(fd) if fd.is_symlink() else ""
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes and int(fields[2].rsplit(":", 1)[1], 16) == remote_port:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def port_of(request: Request) -> int:
    return int(request.peer.rsplit(":", 1)[1])


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as rx:
        yield rx


@pytest.fixture
def cluster(pg_url: str, tmp_path: Path, receiver: Receiver) -> Iterator[Cluster]:
    made = Cluster(pg_url, tmp_path, receiver)
    try:
        yield made
    finally:
        made.stop()


class TestScaleOut:
    # The full size (10,000 events x 20 webhooks = 200,000 deliveries) takes about
    # 200 s here, so it is a soak test run by `make bench`; `make test` runs 1,000 x 20.
    @pytest.mark.timeout(900)
    @pytest.mark.parametrize(
        "events", [1_000, pytest.param(10_000, marks=pytest.mark.slow, id="full-10000")]
    )
    def test_three_workers_deliver_every_delivery_exactly_once(
        self, cluster: Cluster, events: int
    ) -> None:
        # A lease far longer than any attempt: nothing here may be sent twice.
        cluster.start(workers=3, lease_seconds=60)
        paths = cluster.subscribe(WEBHOOKS)
        began = time.monotonic()
        event_ids = cluster.publish(events)
        expected = len(event_ids) * len(paths)
        assert expected == events * WEBHOOKS
        cluster.receiver.wait_for(expected, timeout=600)
        took = time.monotonic() - began
        cluster.all_succeeded(expected, timeout=60)
        print(f"\n{expected:,} deliveries in {took:.0f} s ({expected / took:,.0f}/s)")

        arrivals = cluster.arrivals()
        assert len(arrivals) == expected
        assert {len(requests) for requests in arrivals.values()} == {1}
        assert {path for _, path in arrivals} == set(paths)
        assert {event for event, _ in arrivals} == set(event_ids)
        # All three did a share (told by the connections each still holds open).
        received = cluster.receiver.received()
        shares = []
        for worker in cluster.workers:
            assert worker.proc is not None
            ports = source_ports(worker.proc.pid, cluster.receiver.port)
            shares.append(sum(port_of(r) in ports for r in received))
        assert all(shares), shares

    def test_a_worker_killed_halfway_loses_nothing(self, cluster: Cluster) -> None:
        cluster.start(workers=3, lease_seconds=5)
        webhook_ids = cluster.subscribe(WEBHOOKS)
        expected = len(cluster.publish(500)) * len(webhook_ids)
        cluster.receiver.wait_for(expected // 2, timeout=120)
        victim, *others = cluster.workers
        assert victim.proc is not None
        # Freeze everyone for an instant to see what the victim holds when it dies.
        for worker in cluster.workers:
            worker.signal(signal.SIGSTOP)
        leases = cluster.leases()
        ports = source_ports(victim.proc.pid, cluster.receiver.port)
        victim.kill()  # SIGKILL: no chance to release or record anything
        for worker in others:
            worker.signal(signal.SIGCONT)
        assert victim.proc.returncode == -signal.SIGKILL

        cluster.all_succeeded(expected, timeout=120)
        arrivals = cluster.arrivals()
        assert len(arrivals) == expected  # every delivery arrived at least once
        # The victim's leases: the claims (tokens) under which it had sent something.
        sent_by_victim = {
            (event, webhook_ids[path])
            for (event, path), requests in arrivals.items()
            if any(port_of(r) in ports for r in requests)
        }
        tokens = {leases[key] for key in sent_by_victim if key in leases}
        held = {key for key, token in leases.items() if token in tokens}
        twice = {
            (event, webhook_ids[path]): requests
            for (event, path), requests in arrivals.items()
            if len(requests) > 1
        }
        # A second arrival only for what the killed worker had in flight, i.e. sent
        # under a lease it held but had not yet recorded: one copy came from it.
        assert set(twice) <= held
        # A slot is held until its outcome is committed, so the killed worker owed at
        # most its concurrency in attempts made twice.
        assert len(twice) <= CONCURRENCY
        for requests in twice.values():
            assert len(requests) == 2
            assert sum(port_of(r) in ports for r in requests) == 1
        print(
            f"\nafter SIGKILL: {len(twice)} delivered twice; the victim held {len(held)} "
            f"leases (concurrency {CONCURRENCY})"
        )

    def test_a_frozen_workers_leases_expire_and_others_finish_its_work(
        self, cluster: Cluster
    ) -> None:
        lease = 5.0
        # A worker may freeze in the middle of a statement, its claim's row locks
        # held: the others end that session once it has stalled this long.
        cluster.start(workers=3, lease_seconds=lease, stalled_session_seconds=lease)
        # Answers take a moment, so a working worker always has some awaited.
        cluster.receiver.default = Reply(200, delay=0.02)
        webhook_ids = cluster.subscribe(WEBHOOKS)
        expected = len(cluster.publish(500)) * len(webhook_ids)
        cluster.receiver.wait_for(expected // 2, timeout=120)
        frozen = cluster.workers[0]
        ports = cluster.freeze_while_sending(frozen)

        # Everything is recorded as succeeded while it is still frozen.
        cluster.all_succeeded(expected, timeout=60)
        assert frozen.proc.poll() is None
        arrivals = cluster.arrivals()
        assert len(arrivals) == expected
        # What it had sent when it froze went again from another worker once its lease ran out.
        taken_over = [
            requests
            for requests in arrivals.values()
            if len(requests) > 1 and port_of(requests[0]) in ports
        ]
        assert taken_over, "the frozen worker held no deliveries"
        for first, *again in taken_over:
            # Completed elsewhere: another worker sent it, once the lease had run out.
            elsewhere = [r for r in again if port_of(r) not in ports]
            assert elsewhere, (
                "a delivery of the frozen worker was not taken over: "
                f"{[(r.peer, r.received_at) for r in [first, *again]]}, frozen ports {ports}"
            )
            assert all(r.received_at - first.received_at >= lease / 2 for r in elsewhere)

        # Thawed, it records what it saw under the leases it lost: fenced, kept in the
        # attempt log as superseded, changing neither the deliveries nor webhook health.
        frozen.signal(signal.SIGCONT)
        superseded = "SELECT response_status FROM attempts WHERE outcome = 'superseded'"
        eventually_sync(
            lambda: len(cluster.query(superseded)) >= len(taken_over),
            timeout=30,
            what="the thawed worker's stale records to be written as superseded",
        )
        cluster.all_succeeded(expected, timeout=10)
        unhealthy = cluster.query(
            "SELECT id, failure_streak, last_error FROM webhooks"
            " WHERE failure_streak > 0 OR last_error IS NOT NULL"
        )
        assert unhealthy == []
        # The answers had arrived during the freeze: responses, not timeouts.
        assert {r["response_status"] for r in cluster.query(superseded)} == {200}


class TestOrderedAcrossWorkers:
    def test_three_workers_keep_each_line_in_order_one_at_a_time(self, cluster: Cluster) -> None:
        cluster.start(workers=3)
        delay = 0.02
        cluster.receiver.default = Reply(200, delay=delay)
        keys, events = 20, 400
        with cluster.api_process.client() as api:
            create_event_type(api, "job.success")
            create_webhook(
                api,
                cluster.receiver.url + "/fifo",
                ordering="fifo",
                ordering_key="${order.id}",
                max_in_flight=50,
            )
            batch = [
                {"type": "job.success", "data": {"n": n, "order": {"id": n % keys}}}
                for n in range(events)
            ]
            r = api.post("/v1/apps/default/events/batch", json={"events": batch})
            assert r.status_code == 202, r.text
        cluster.all_succeeded(events, timeout=120)
        lines: dict[int, list[Request]] = collections.defaultdict(list)
        for request in cluster.receiver.received():
            lines[request.json()["data"]["order"]["id"]].append(request)
        assert len(lines) == keys
        senders: set[int] = set()
        for key, arrived in lines.items():
            assert [r.json()["data"]["n"] for r in arrived] == list(range(key, events, keys))
            # One at a time: each went only once the one before it had been answered.
            gaps = [b.received_at - a.received_at for a, b in itertools.pairwise(arrived)]
            assert min(gaps) >= delay * 0.9, (key, min(gaps))
            senders |= {port_of(r) for r in arrived}
        # The lines were served by more than one worker (told by their connections).
        owners = [
            source_ports(w.proc.pid, cluster.receiver.port) for w in cluster.workers if w.proc
        ]
        assert sum(bool(ports & senders) for ports in owners) >= 2
