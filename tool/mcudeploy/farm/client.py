"""A synchronous view of a labgrid coordinator: places, their tags and resources, acquire and release.

Usage::

    with FarmClient("127.0.0.1:20408") as farm:
        names = farm.places_for("nucleo-f446re")           # places tagged board=nucleo-f446re
        farm.acquire(names[0])                             # McdError if someone else holds it
        farm.resources(names[0])                           # {"uart": {"host": ..., "port": ...}, "gdb": {...}}
        farm.release(names[0])

This wraps labgrid's own client library (``labgrid.remote.client.start_session``: one gRPC
stream to the coordinator, which pushes every place and resource change) and its request
messages; the coordinator decides who holds a place, so two clients racing for one place get
one winner. The session's asyncio loop runs only inside these calls (``sync`` lets it take the
updates that arrived meanwhile), so the object belongs to the thread that created it.
"""

from __future__ import annotations

import logging
import os
from socket import gethostname
from typing import Self

from ..errors import McdError
from ..extras import require

BOARD_TAG = "board"


class FarmError(McdError):
    """The coordinator could not be reached, or refused a request (a place held by someone else)."""


def _labgrid():
    require("the board farm (--farm, `mcudeploy farm`)", "labgrid")  # one line + the pip command if absent
    import grpc
    from labgrid.remote.generated import labgrid_coordinator_pb2 as pb2

    return grpc, _start_session, pb2


def _start_session(address: str):
    """labgrid's ``start_session``, with a gRPC channel of its own: grpc shares one TCP connection
    among equal channels of a process, and the coordinator tells clients apart by their peer
    address, so a second client in the same process (a test's other user) was refused."""
    import grpc
    from labgrid.remote.client import ClientSession, ensure_event_loop
    from labgrid.remote.generated import labgrid_coordinator_pb2_grpc as pb2_grpc
    from labgrid.util.proxy import proxymanager

    loop = ensure_event_loop()
    address = proxymanager.get_grpc_address(address, default_port=20408)
    session = ClientSession(address, loop)
    shared = session.channel
    session.channel = grpc.aio.insecure_channel(target=address, options=[
        ("grpc.keepalive_time_ms", 7500), ("grpc.keepalive_timeout_ms", 10000),
        ("grpc.http2.ping_timeout_ms", 10000), ("grpc.http2.max_pings_without_data", 0),
        ("grpc.use_local_subchannel_pool", 1)])
    loop.run_until_complete(shared.close())
    session.stub = pb2_grpc.CoordinatorStub(session.channel)
    loop.run_until_complete(session.start())
    return session


class _FromLabgrid(logging.Filter):
    """Drops the records labgrid's client logs on the root logger (``logging.error(...)`` when the
    coordinator is unreachable): FarmClient turns those failures into one FarmError line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return f"{os.sep}labgrid{os.sep}" not in record.pathname


class FarmClient:
    def __init__(self, address: str, user: str | None = None):
        grpc, start_session, self.pb2 = _labgrid()
        self._rpc_error = grpc.aio.AioRpcError
        self.address = address
        # labgrid logs its connection errors on the root logger; they are reported here, in one line
        self._quiet = _FromLabgrid()
        logging.getLogger().addFilter(self._quiet)
        saved = os.environ.get("LG_USERNAME")
        if user:  # labgrid names a holder host/user, from LG_USERNAME (read at the session's start)
            os.environ["LG_USERNAME"] = user
        try:
            self.session = start_session(address)
            self.me = f"{self.session.gethostname()}/{self.session.getuser()}"
        except Exception as exc:  # noqa: BLE001 - labgrid raises its own ServerError or grpc errors
            self._unquiet()
            raise FarmError(f"cannot reach the labgrid coordinator at {address}: {exc}; start one (`mcudeploy "
                            "farm up`) or give the HOST:PORT it listens on") from None
        finally:
            if user and saved is None:
                os.environ.pop("LG_USERNAME", None)
            elif user:
                os.environ["LG_USERNAME"] = saved
        self.loop = self.session.loop

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.loop.run_until_complete(self.session.stop())
            self.loop.run_until_complete(self.session.close())
        except Exception:  # noqa: BLE001, S110 - closing a dead channel: nothing left to release
            pass
        self._unquiet()

    def _unquiet(self) -> None:
        if self._quiet is not None:
            logging.getLogger().removeFilter(self._quiet)
            self._quiet = None

    def sync(self) -> None:
        """Let the session take the place and resource updates the coordinator sent meanwhile."""
        self.loop.run_until_complete(self.session.sync_with_coordinator())

    def _call(self, rpc: str, request) -> None:
        try:
            self.loop.run_until_complete(getattr(self.session.stub, rpc)(request))
        except self._rpc_error as exc:
            raise FarmError(f"the coordinator at {self.address} refused {rpc}: {exc.details()}") from None
        self.sync()

    # places -------------------------------------------------------------------------------
    def places(self) -> dict:
        return self.session.places

    def places_for(self, board: str) -> list[str]:
        """Names of the places tagged ``board=BOARD``, sorted."""
        return sorted(n for n, p in self.session.places.items() if p.tags.get(BOARD_TAG) == board)

    def holder(self, name: str) -> str | None:
        """Who holds place ``name`` ("host/user"), or None if it is free."""
        return self.session.places[name].acquired

    def acquire(self, name: str, check: bool = True) -> None:
        """Acquire ``name`` for this client; FarmError naming the holder if someone has it (the
        coordinator refuses too, ``check=False`` asks it without looking first)."""
        held = self.holder(name)
        if held and check:
            raise FarmError(f"place {name} is held by {held}: it is left alone; wait for it to be released, or "
                            "choose another place")
        self._call("AcquirePlace", self.pb2.AcquirePlaceRequest(placename=name))

    def release(self, name: str) -> None:
        self._call("ReleasePlace", self.pb2.ReleasePlaceRequest(placename=name))

    def resources(self, name: str) -> dict[str, dict]:
        """The acquired place's resources by name (their params), only those still exported:
        a resource whose exporter went away is missing here."""
        place = self.session.places[name]
        out = {}
        for exporter, group, _cls, rname in (tuple(r) for r in place.acquired_resources):
            entry = self.session.resources.get(exporter, {}).get(group, {}).get(rname)
            if entry is not None and entry.data.get("cls") and entry.avail:
                out[rname] = dict(entry.params, cls=entry.cls, exporter=exporter)
        return out

    def exported(self, exporter: str) -> int:
        """How many available resources ``exporter`` has on the coordinator now."""
        groups = self.session.resources.get(exporter, {})
        return sum(1 for g in groups.values() for r in g.values() if r.data.get("cls") and r.avail)

    # administration (farm up) -------------------------------------------------------------
    def add_place(self, name: str, match: str, tags: dict[str, str]) -> None:
        if name not in self.session.places:
            self._call("AddPlace", self.pb2.AddPlaceRequest(name=name))
        if not self.session.places[name].hasmatch(match.split("/")):
            self._call("AddPlaceMatch", self.pb2.AddPlaceMatchRequest(placename=name, pattern=match))
        self._call("SetPlaceTags", self.pb2.SetPlaceTagsRequest(placename=name, tags=tags))

    def delete_place(self, name: str) -> None:
        if name in self.session.places:
            self._call("DeletePlace", self.pb2.DeletePlaceRequest(name=name))


def default_user() -> str:
    return f"{gethostname()}/{os.environ.get('LG_USERNAME') or os.environ.get('USER') or 'user'}"
