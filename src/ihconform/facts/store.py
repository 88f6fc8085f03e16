"""Facts gathered once per target, hosts in parallel, connections reused.

At session start every host the plan needs is queued on a bounded thread pool; a probe that
asks for a host's facts waits only for that host. A host that cannot be reached (or whose
key does not match) yields facts carrying the error, so its probes report 检查错误 with the
reason, and the rest of the run goes on.

A section whose output reached its cap is incomplete: a probe reading it would judge a
listing it never saw the end of (a flooded ``ps`` shows no forbidden service, a flooded ``ss``
no open port), so such a section reads as FactUnavailable (检查错误), never as a fact.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor

from ihconform.errors import HostKeyError, IhconformError, TransportError
from ihconform.facts.contract import HostFacts, Section, collector_for
from ihconform.facts.windows import WINDOWS_SECTIONS, load_recording
from ihconform.inventory import Host, Inventory
from ihconform.secrets import env_secret, read_secret_file
from ihconform.transport import open_transport
from ihconform.transport.base import Transport

#: Default number of hosts gathered at once.
DEFAULT_PARALLEL = 16


def sudo_password(host: Host) -> str | None:
    """The sudo password named by the inventory (environment variable or private file)."""
    if not host.sudo.enabled:
        return None
    if host.sudo.password_file is not None:
        return read_secret_file(host.sudo.password_file)
    if host.sudo.password_env:
        return env_secret(host.sudo.password_env, f"host {host.id}")
    return None


class FactStore:
    def __init__(self, inventory: Inventory, sections_for: dict[str, list[Section]],
                 parallel: int = DEFAULT_PARALLEL) -> None:
        self.inventory = inventory
        self.sections_for = sections_for
        self._pool = ThreadPoolExecutor(max_workers=max(1, parallel), thread_name_prefix="ihc-facts")
        self._futures: dict[str, Future[HostFacts]] = {}
        self._transports: dict[str, Transport] = {}
        self._lock = threading.Lock()
        self._closed = False

    def gathers(self, inventory: Inventory, sections_for: dict[str, list[Section]]) -> bool:
        """Whether this store gathers exactly ``sections_for`` from ``inventory``'s hosts."""
        return self.inventory == inventory and self.sections_for == sections_for

    def start(self, host_ids: set[str]) -> None:
        for host in self.inventory.hosts:
            if host.id in host_ids and host.id not in self._futures:
                self._futures[host.id] = self._pool.submit(self._gather, host)

    def get(self, host_id: str) -> HostFacts:
        if host_id not in self._futures:
            self.start({host_id})
        return self._futures[host_id].result()

    def transport(self, host_id: str) -> Transport | None:
        """The open connection to a host (for probes that must run more on it), if any.

        A probe may come to a host long after its facts were gathered (after minutes of
        bandwidth tests), and a firewall's idle time-out or the server may have dropped the
        connection meanwhile: it is then opened again, host key verified as the first time.
        Raises TransportError if that fails."""
        with self._lock:
            t = self._transports.get(host_id)
            if t is None or t.is_open or self._closed:
                return t
        t.close()
        host = next(h for h in self.inventory.hosts if h.id == host_id)
        fresh = open_transport(host, self.inventory)  # outside the lock: other hosts' gathering goes on
        fresh.round_trips = t.round_trips
        with self._lock:
            if self._closed:  # the run ended while this host was reconnecting
                fresh.close()
                raise TransportError(f"host {host_id}: run ended while reconnecting")
            self._transports[host_id] = fresh
        return fresh

    def all(self) -> dict[str, HostFacts]:
        return {hid: f.result() for hid, f in self._futures.items()}

    def _gather(self, host: Host) -> HostFacts:
        sections = self.sections_for.get(host.id, [])
        if host.offline is not None and host.platform == "windows":  # a recorded answer: read, never connect
            return load_recording(host.offline, host.id, sections or WINDOWS_SECTIONS)
        try:
            t = open_transport(host, self.inventory)
        except HostKeyError as exc:
            return HostFacts(host_id=host.id, error=str(exc),
                             identity={"host_key_offered": exc.offered, "host_key_expected": exc.expected})
        except TransportError as exc:
            return HostFacts(host_id=host.id, error=str(exc))
        with self._lock:
            if self._closed:  # the run ended (Ctrl-C) while this host was connecting
                t.close()
                return HostFacts(host_id=host.id, error="run interrupted before facts were gathered")
            self._transports[host.id] = t
        try:
            password = sudo_password(host)
        except (OSError, IhconformError) as exc:
            return HostFacts(host_id=host.id, error=f"sudo password: {exc}", identity=dict(t.identity))
        return collector_for(host.platform).collect(t, sections, timeout=max(60.0, host.timeout_s * 6),
                                                    sudo=host.sudo.enabled, sudo_password=password)

    def close(self) -> None:
        """End the run's connections, then the workers. Connections close first: a worker
        blocked on a slow or hung host returns at once with a transport error instead of
        holding an interrupted run (and the interpreter's exit) until its timeout."""
        with self._lock:
            self._closed = True
            for t in self._transports.values():
                t.close()
            self._transports.clear()
        self._pool.shutdown(wait=True, cancel_futures=True)
