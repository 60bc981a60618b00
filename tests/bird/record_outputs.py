"""Re-record the BIRD control-socket replies in tests/data/bird/ (root; real BIRD).

    python3 tests/bird/record_outputs.py [1.6] [2.0]

Builds the standard lab (tests/integration/bird_socket_lab.py), peers BIRD
with ExaBGP, injects the routes below and saves the raw reply bytes of each
read-only command to ``tests/data/bird/<version>/<name>.txt`` (exactly what
the socket sent after the command, greeting excluded) plus ``greeting.txt``.
The unit tests in tests/bird/ replay these files; their expected numbers
follow from ``ROUTES_A``/``ROUTES_A2``/``ROUTES_B`` here.
"""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parent / "integration")]

import bird_socket_lab as bl  # noqa: E402
from fake_bird import FILES  # noqa: E402
from lab import ExaBgp, lab_topology  # noqa: E402

DATA = HERE.parent / "data" / "bird"

#: A: 4 prefixes; 10.20.0.0/24 also comes from A2 with a shorter AS path.
ROUTES_A = ["10.10.0.0/24", "10.10.1.0/24", "10.10.2.0/25", "10.20.0.0/24"]
#: A2: 3 prefixes; 203.0.113.0/25 is rejected by A2's import filter.
ROUTES_A2 = ["10.20.0.0/24", "10.30.0.0/24", "203.0.113.0/25"]
ROUTES_B = ["2001:db8:10::/48", "2001:db8:11::/48", "2001:db8:12::/64"]


#: the commands about A and A2 (IPv4 peers): not asked of BIRD 1.6's bird6
V4_PEERS = ("route_protocol_", "route_import_table_", "route_filtered_")


def commands(version: str, daemon: str) -> dict[str, str]:
    """File name -> command of ``fake_bird.FILES`` that this BIRD answers."""
    return {
        name: cmd
        for name, cmd in FILES.items()
        if (daemon == "bird" or not name.startswith(V4_PEERS))
        and (version == "2.0" or not name.startswith("route_import_table_"))
    }


def greeting(path: Path) -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(str(path))
        buf = b""
        while not buf.endswith(b"\n"):
            buf += s.recv(4096)
        return buf


def record(version: str) -> None:
    out = DATA / version
    out.mkdir(parents=True, exist_ok=True)
    with lab_topology() as lab:
        daemons = bl.bird_nodes(version, lab.spk, lab.workdir)
        for d in daemons:
            d.start()
        exa = ExaBgp(lab.inj, lab.workdir, bl.exa_peers())
        with exa:
            v4 = daemons[0]
            v6 = daemons[-1]
            v4.wait_established("A", "A2")
            v6.wait_established("B")
            exa.announce_many(
                "A", ROUTES_A, as_path=[65001, 64512, 64513], med=10,
                communities=["65001:100", "65001:200"], large_communities=["65001:1:2"],
            )  # fmt: skip
            exa.announce_many("A2", ROUTES_A2, as_path=[65003], communities=["65003:7"])
            exa.announce_many("B", ROUTES_B, as_path=[65002, 64600], med=5)
            time.sleep(3)
            for d in daemons:
                suffix = "" if d.name == "bird" else "6"
                for name, cmd in commands(version, d.name).items():
                    if d.name == "bird6" and name.startswith("status"):
                        continue
                    (out / f"{name}{suffix}.txt").write_bytes(bl.birdc_raw(d.ctl, cmd))
                (out / f"greeting{suffix}.txt").write_bytes(greeting(d.ctl))
            for d in daemons:
                d.stop()


def main() -> int:
    for version in sys.argv[1:] or ["1.6", "2.0"]:
        record(version)
        print(f"recorded BIRD {version} into {DATA / version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
