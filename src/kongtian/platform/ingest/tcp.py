"""TCP listeners: JT/T 808 terminals, Beast binary, AVR text and AIS NMEA feeds.

One :class:`TcpIngest` serves one protocol on one port (asyncio, in its own thread).
Every connection keeps its own receive buffer, so a frame, record or line cut across
two reads is joined before use; an unfinished tail longer than any valid unit is
dropped (a peer cannot grow the buffer without bound).

Per read, the complete units go to ``Service.ingest_raw`` in one call (run in a worker
thread so the event loop keeps serving other connections); the connection reads
nothing more until that commit returned, so a slow store slows the senders through
TCP flow control (backpressure) rather than piling data up in memory.

- ``jt808``: frames cut with :func:`kongtian.traffic.decode.jt808.split_frames`; every
  frame that parses is answered per protocol with
  :func:`~kongtian.traffic.decode.jt808.reply_for` (0x8100 to a registration, 0x8001
  otherwise), *after* the commit, so a terminal that gets no answer resends (JT/T 808
  terminals retransmit unanswered messages); a frame with a bad check code is not
  answered (the terminal resends it). The packets of a sub-packaged message are held per
  connection until the last one arrived and go to the decoder together; each packet is
  answered when it arrives, the last one after the commit.
- ``beast``: records 0x1a <type> <6-byte counter> <signal> <payload> with 0x1a escaped;
  one payload per record.
- ``avr``: lines ``*<hex>;`` / ``@<counter><hex>;``; one payload per line.
- ``ais``: NMEA lines; the sentences of a multi-sentence message are kept together as
  one payload (joined by newlines), also when they arrive in different reads.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

from kongtian.errors import ConfigError
from kongtian.platform.ingest.base import (
    Committer,
    IngestService,
    IngestStats,
    RawMessage,
    now_utc,
)

log = logging.getLogger("kongtian.ingest.tcp")

PROTOCOLS = ("jt808", "beast", "avr", "ais")
READ_BYTES = 65536
MAX_LINE_BYTES = 4096  # NMEA sentences are <= 82 characters, AVR lines < 60
_BEAST_LEN = {0x31: 2, 0x32: 7, 0x33: 14, 0x34: 14}
_BEAST_MAX_RECORD = 2 * (2 + 7 + 14)  # every byte escaped


# ---------------------------------------------------------------------------- framers
class Framer:
    """Cuts one connection's byte stream into payloads; keeps the unfinished tail."""

    def __init__(self) -> None:
        self.buffer = b""

    def feed(self, data: bytes) -> list[bytes]:
        raise NotImplementedError

    def flush(self) -> list[bytes]:
        """At the end of the stream: whatever is left, for the decoder to use or count."""
        rest, self.buffer = self.buffer, b""
        return [rest] if rest.strip(b"\r\n ") else []


class Jt808Framer(Framer):
    def feed(self, data: bytes) -> list[bytes]:
        from kongtian.traffic.decode.jt808 import split_frames

        frames, self.buffer = split_frames(self.buffer + data)
        return frames


def split_beast(data: bytes) -> tuple[list[bytes], bytes]:
    """Cut a Beast stream into whole records (escapes kept) and the unfinished tail.

    Bytes that cannot start a record (no 0x1a, unknown type) are passed on as their own
    payload so the decoder counts and quarantines them.
    """
    out: list[bytes] = []
    n = len(data)
    i = data.find(0x1A)
    if i < 0:
        return ([data] if data else []), b""
    if i > 0:
        out.append(data[:i])
    while i < n:
        if i + 1 >= n:
            return out, data[i:]
        size = _BEAST_LEN.get(data[i + 1])
        if size is None:
            j = data.find(0x1A, i + 2)
            j = n if j < 0 else j
            out.append(data[i:j])
            i = j
            continue
        need = 7 + size
        got = 0
        j = i + 2
        while got < need and j < n:
            if data[j] == 0x1A:
                if j + 1 >= n:
                    break  # maybe the first half of an escaped pair: wait for more
                if data[j + 1] != 0x1A:
                    break  # a new record starts: this one is short
                j += 2
            else:
                j += 1
            got += 1
        if got < need:
            if j >= n or (j + 1 >= n and data[j] == 0x1A):
                tail = data[i:]
                return out, tail if len(tail) <= _BEAST_MAX_RECORD else b""
            out.append(data[i:j])  # cut short by the next record: let the decoder count it
        else:
            out.append(data[i:j])
        i = j
        if i < n and data[i] != 0x1A:
            j = data.find(0x1A, i)
            j = n if j < 0 else j
            out.append(data[i:j])
            i = j
    return out, b""


class BeastFramer(Framer):
    def feed(self, data: bytes) -> list[bytes]:
        records, self.buffer = split_beast(self.buffer + data)
        return records


class LineFramer(Framer):
    """Whole lines (CR/LF stripped, blank lines skipped)."""

    def feed(self, data: bytes) -> list[bytes]:
        buf = self.buffer + data
        lines = buf.split(b"\n")
        tail = lines.pop()
        self.buffer = tail if len(tail) <= MAX_LINE_BYTES else b""
        return [s for s in (ln.strip(b"\r ") for ln in lines) if s]

    def flush(self) -> list[bytes]:
        # a last line without its newline is still a line
        return self.feed(b"\n")


def _ais_fragment(line: bytes) -> tuple[int, int, bytes] | None:
    """(total, number, sequential id + channel) of an AIVDM/AIVDO sentence, else None."""
    k = line.find(b"!")
    if k < 0:
        return None
    parts = line[k:].split(b",")
    if len(parts) < 5:
        return None
    try:
        total, number = int(parts[1]), int(parts[2])
    except ValueError:
        return None
    return total, number, parts[3] + b"," + parts[4]


class AisFramer(LineFramer):
    """Lines grouped into messages: a multi-sentence message becomes one payload.

    Fragments are grouped by sequential message id and channel, so groups interleaved
    with other sentences (common on satellite and multi-station feeds) stay whole. An
    unfinished group is passed on as it is (the decoder counts it) when a new group
    with the same id starts or when more than :attr:`max_pending` groups are open.
    """

    max_pending = 16

    def __init__(self) -> None:
        super().__init__()
        self.pending: dict[bytes, list[bytes]] = {}

    def feed(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        for line in super().feed(data):
            frag = _ais_fragment(line)
            if frag is None or frag[0] <= 1:
                out.append(line)
                continue
            total, number, key = frag
            group = self.pending.get(key)
            if group is not None and number == 1:
                out.append(b"\n".join(self.pending.pop(key)))
                group = None
            if group is None:
                if len(self.pending) >= self.max_pending:
                    out.append(b"\n".join(self.pending.pop(next(iter(self.pending)))))
                group = self.pending[key] = []
            group.append(line)
            if number >= total or len(group) >= total:
                out.append(b"\n".join(self.pending.pop(key)))
        return out

    def flush(self) -> list[bytes]:
        out = super().flush()
        out.extend(b"\n".join(g) for g in self.pending.values())
        self.pending.clear()
        return out


def make_framer(protocol: str) -> Framer:
    if protocol == "jt808":
        return Jt808Framer()
    if protocol == "beast":
        return BeastFramer()
    if protocol == "ais":
        return AisFramer()
    if protocol == "avr":
        return LineFramer()
    raise ConfigError(
        f"must be one of {', '.join(PROTOCOLS)}, got {protocol!r}", option="--protocol"
    )


# ---------------------------------------------------------------------------- JT/T 808
class Jt808Session:
    """Per-connection JT/T 808 state: platform serial counter and sub-package holding."""

    def __init__(self) -> None:
        self.serial = 0
        self.pending: dict[tuple[str, int, int], dict[int, bytes]] = {}

    def prepare(self, frames: list[bytes]) -> tuple[list[bytes], list[Any]]:
        """Frames to decode now and the parsed messages to answer after the commit."""
        from kongtian.traffic.decode.jt808 import JT808Error, parse_frame

        payloads: list[bytes] = []
        answer: list[Any] = []
        for frame in frames:
            try:
                msg = parse_frame(frame, strict=False)
            except JT808Error:
                payloads.append(frame)  # quarantined by the decoder; nothing to answer
                continue
            except Exception:  # noqa: BLE001 - same: the decoder counts it
                payloads.append(frame)
                continue
            answer.append(msg)
            if msg.packet_total and msg.packet_total > 1 and msg.packet_index:
                key = (msg.phone, msg.msg_id, msg.packet_total)
                parts = self.pending.setdefault(key, {})
                parts[msg.packet_index] = frame
                if len(parts) >= msg.packet_total:
                    payloads.extend(parts[i] for i in sorted(parts))
                    del self.pending[key]
                elif len(self.pending) > 64:  # a terminal that never finishes
                    oldest = next(iter(self.pending))
                    payloads.extend(self.pending.pop(oldest).values())
                continue
            payloads.append(frame)
        return payloads, answer

    def flush(self) -> list[bytes]:
        """Packets of messages still incomplete when the connection ends (the decoder
        quarantines them as incomplete instead of their being lost)."""
        out = [f for parts in self.pending.values() for f in parts.values()]
        self.pending.clear()
        return out

    def replies(self, messages: list[Any]) -> bytes:
        from kongtian.traffic.decode.jt808 import reply_for

        out = bytearray()
        for msg in messages:
            if not msg.checksum_ok:
                continue  # corrupted in transit: no answer, so the terminal sends it again
            frame = reply_for(msg, serial=self.serial)
            if frame is not None:
                out += frame
                self.serial = (self.serial + 1) & 0xFFFF
        return bytes(out)


# ---------------------------------------------------------------------------- listener
class TcpIngest:
    """Listen on ``host:port`` for one ``protocol`` and commit what peers send.

    ``port=0`` picks a free port (read :attr:`port` after :meth:`start`).
    ``max_concurrent_commits`` bounds the commits running at once over all
    connections; ``max_connections`` refuses further peers beyond that many.
    """

    def __init__(
        self,
        service: IngestService,
        protocol: str,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        max_connections: int = 1024,
        max_concurrent_commits: int = 4,
        idle_timeout_s: float = 600.0,
        ref: tuple[float, float] | None = None,
        owner: str | None = None,
        on_batch: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        if protocol not in PROTOCOLS:
            raise ConfigError(
                f"must be one of {', '.join(PROTOCOLS)}, got {protocol!r}", option="--protocol"
            )
        self.protocol = protocol
        self.fmt = protocol  # the decode_payloads format of the same name
        self.host = host
        self.port = port
        self.max_connections = max_connections
        self.max_concurrent_commits = max_concurrent_commits
        self.idle_timeout_s = idle_timeout_s
        self.stats = IngestStats()
        self.connections = 0
        self._committer = Committer(
            service, stats=self.stats, on_batch=on_batch, ref=ref, owner=owner
        )
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Event | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._thread_main, name="tcp-ingest", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise ConfigError(
                f"cannot listen on {self.host}:{self.port}: {self._error}", option="--port"
            ) from None

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._loop is not None and self._stopped is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)
        if self._thread is not None:
            self._thread.join(timeout_s)

    def __enter__(self) -> TcpIngest:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _thread_main(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # noqa: BLE001 - reported through start()
            self._error = exc
        finally:
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        self._commit_slots = asyncio.Semaphore(self.max_concurrent_commits)
        server = await asyncio.start_server(self._serve, self.host, self.port, limit=READ_BYTES)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        await self._stopped.wait()
        server.close()
        # close the open connections too (Python >= 3.12 waits for them in wait_closed).
        # A commit in flight still completes (asyncio.run waits for the executor); its
        # answer is not sent, so a JT/T 808 terminal resends: a counted duplicate.
        for w in list(self._writers):
            w.close()
        await server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        origin = f"tcp:{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else f"tcp:{peer}"
        if self.connections >= self.max_connections:
            writer.close()
            return
        self.connections += 1
        self._writers.add(writer)
        framer = make_framer(self.protocol)
        session = Jt808Session() if self.protocol == "jt808" else None
        loop = asyncio.get_running_loop()

        async def commit(units: list[bytes]) -> bool:
            if not units:
                return True
            now = now_utc()
            batch = [RawMessage(self.fmt, u, origin, now) for u in units]
            async with self._commit_slots:
                return bool(
                    await loop.run_in_executor(None, self._committer.commit, batch, self._stop)
                )

        try:
            while not self._stop.is_set():
                try:
                    data = await asyncio.wait_for(reader.read(READ_BYTES), self.idle_timeout_s)
                except (TimeoutError, ConnectionError):
                    data = b""
                if not data:
                    # end of stream: what is left goes to the decoder too
                    rest = framer.flush() + (session.flush() if session is not None else [])
                    await commit(rest)
                    break
                units = framer.feed(data)
                answer: list[Any] = []
                if session is not None:
                    units, answer = session.prepare(units)
                if not await commit(units):
                    break  # stopping: uncommitted, so unanswered
                if session is not None and answer:
                    writer.write(session.replies(answer))
                    await writer.drain()
        except Exception as exc:  # noqa: BLE001 - one bad connection never stops the listener
            log.warning("%s: connection error %s: %s", origin, type(exc).__name__, exc)
        finally:
            self.connections -= 1
            self._writers.discard(writer)
            writer.close()
            try:
                await writer.wait_closed()
            except Exception:  # noqa: BLE001
                pass
