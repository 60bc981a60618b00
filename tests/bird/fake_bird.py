"""A fake BIRD control socket that replays recorded replies (tests/data/bird/).

``FakeBird(path, replies)`` serves the birdc protocol on a unix socket: the
greeting, then for each command line the recorded reply bytes (an unknown
command gets BIRD's ``9001 syntax error``). ``replies`` maps a command to
bytes and can be changed between polls; ``commands`` logs what was asked.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "data" / "bird"

#: recorded file name -> the command it answers (bird = IPv4 / 2.0; "6" suffix: bird6)
FILES = {
    "status": "show status",
    "protocols": "show protocols",
    "protocols_all": "show protocols all",
    "route_all": "show route all",
    "route_count": "show route count",
    "route_primary_count": "show route primary count",
    "route_protocol_A_all": "show route protocol A all",
    "route_protocol_A2_all": "show route protocol A2 all",
    "route_protocol_A_count": "show route protocol A count",
    "route_import_table_A2_all": "show route import table A2.ipv4 all",
    "route_filtered_A2_all": "show route filtered protocol A2 all",
}


def recorded(version: str, suffix: str = "") -> dict[str, bytes]:
    """Command -> reply bytes of a recording (``suffix`` "6" for BIRD 1.6's bird6)."""
    out = {}
    for name, cmd in FILES.items():
        p = DATA / version / f"{name}{suffix}.txt"
        if p.exists():
            out[cmd] = p.read_bytes()
    if suffix == "6" and "show status" not in out:
        out["show status"] = (DATA / version / "status.txt").read_bytes()
    return out


def greeting(version: str, suffix: str = "") -> bytes:
    return (DATA / version / f"greeting{suffix}.txt").read_bytes()


class FakeBird:
    def __init__(self, path: Path, replies: dict[str, bytes], greeting: bytes) -> None:
        self.path = path
        self.replies = replies
        self.greeting = greeting
        self.commands: list[str] = []
        self.connections = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self.server: asyncio.base_events.Server | None = None
        #: chunk size for writing replies (small: exercises line splitting)
        self.chunk = 1000

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        try:
            writer.write(self.greeting)
            while True:
                line = await reader.readline()
                if not line:
                    break
                cmd = line.decode().strip()
                self.commands.append(cmd)
                reply = self.replies.get(cmd, b"9001 syntax error, unexpected CF_SYM_UNDEFINED\n")
                for i in range(0, len(reply), self.chunk):
                    writer.write(reply[i : i + self.chunk])
                    await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def start(self) -> FakeBird:
        self.server = await asyncio.start_unix_server(self._client, str(self.path))
        return self

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        for w in list(self._writers):
            w.close()
        self.path.unlink(missing_ok=True)
