"""No back-pressure: does ``bmp-agent`` keep up with a real speaker's initial dump?

The scale scenario of the lab notes, with the agent as the collector: in the
lab namespaces of ``tests/lab`` (ExaBGP -> speaker -> collector), ExaBGP
loads 100 000 IPv4 /26 (10.128.0.0/9) + 20 000 IPv6 /56 (2001:db8::/32) into
FRR 8.4 or GoBGP over one session (UPDATEs of 400 / 200 prefixes; this takes
~25-30 s, ExaBGP is the bottleneck). Only once the speaker holds the whole
table is ``bmp-agent`` started in the collector namespace (default config,
``--bmp-listen 10.0.9.2:11019``), so the speaker dumps its table into it.

tcpdump in the collector namespace timestamps every segment of the BMP
connection:

- speaker emit time = first payload byte -> last payload byte of the dump;
- agent ingest time = first payload byte -> the moment the agent's RIB
  (``/api/v1/routers``, polled every 20 ms over a socket made inside the
  namespace) reaches its final route count.

If the agent were slower than the speaker, its socket buffer would fill, TCP
would close the window and the speaker's emit time would stretch to the
agent's ingest time: so the check is ingest time vs emit time, and the
receive window (tcpdump shows zero-window segments, counted). Then the agent
is stopped and a plain sink (``tests/lab`` ``BmpSink``) takes its place: the
speaker reconnects and dumps the same table again, timed the same way, which
is its emit time when nothing holds it back. All printed; nothing is
asserted. Needs root and the lab's packages.

    python3 bench/backpressure.py [--speaker frr|gobgp|both]
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests"))

from lab import (  # noqa: E402
    COLLECTOR_V4,
    INJ_A_V4,
    INJ_B_V6,
    BmpSink,
    BmpTarget,
    ExaBgp,
    LabError,
    LabTopology,
    Namespace,
    SpeakerConfig,
    lab_neighbors,
    lab_peers,
    lab_topology,
    make_speaker,
    missing_prerequisites,
)
from procs import print_machine  # noqa: E402

V4, V6 = 100_000, 20_000
HTTP_PORT = 9324


def scale_lines(selector: str) -> list[str]:
    """ExaBGP API lines: the scale table in UPDATEs of 400 IPv4 / 200 IPv6 prefixes."""
    base4 = int(ipaddress.IPv4Address("10.128.0.0"))
    base6 = int(ipaddress.IPv6Address("2001:db8::"))
    v4 = [f"{ipaddress.IPv4Address(base4 + (i << 6))}/26" for i in range(V4)]
    v6 = [f"{ipaddress.IPv6Address(base6 + (i << 72))}/56" for i in range(V6)]
    attrs = "origin igp as-path [ 65001 4200000001 ] med 10 community [ 65001:100 ]"
    lines = []
    for i in range(0, V4, 400):
        nlri = " ".join(v4[i : i + 400])
        lines.append(f"{selector} announce attributes next-hop {INJ_A_V4} {attrs} nlri {nlri}")
    for i in range(0, V6, 200):
        nlri = " ".join(v6[i : i + 200])
        lines.append(f"{selector} announce attributes next-hop fd00:1::2 {attrs} nlri {nlri}")
    return lines


def speaker_routes(kind: str, spk: object) -> tuple[int, int]:
    """(IPv4, IPv6) routes the speaker holds."""
    out = []
    for afi in ("ipv4", "ipv6"):
        try:
            if kind == "frr":
                text = spk.vtysh(f"show bgp {afi} unicast summary json", check=False)  # type: ignore[attr-defined]
                d = json.loads(text or "{}")
                out.append(sum(p.get("pfxRcd", 0) for p in d.get("peers", {}).values()))
            else:
                text = spk.gobgp("global", "rib", "summary", "-a", afi, check=False)  # type: ignore[attr-defined]
                n = text.split("Destination:")[1].split(",")[0] if "Destination:" in text else "0"
                out.append(int(n.strip()))
        except (ValueError, IndexError, OSError):
            out.append(0)
    return out[0], out[1]


def http_get(ns: Namespace, path: str) -> bytes:
    s = ns.socket()
    try:
        s.settimeout(10)
        s.connect(("127.0.0.1", HTTP_PORT))
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: agent\r\n\r\n".encode())
        chunks = []
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
    finally:
        s.close()
    return b"".join(chunks).split(b"\r\n\r\n", 1)[1]


def agent_routes(ns: Namespace) -> int:
    try:
        data = json.loads(http_get(ns, "/api/v1/routers"))
    except (OSError, ValueError, IndexError):
        return -1
    return sum(r["routes"] for r in data["routers"])


def segments(pcap: Path) -> list[tuple[float, int, int]]:
    """(epoch, payload length, window) of each segment towards the collector."""
    out = subprocess.run(
        [
            "tshark",
            "-r",
            str(pcap),
            "-Y",
            f"ip.dst == {COLLECTOR_V4} && tcp.dstport == 11019",
            "-T",
            "fields",
            "-e",
            "frame.time_epoch",
            "-e",
            "tcp.len",
            "-e",
            "tcp.window_size",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = []
    for line in out.splitlines():
        t, n, _ = ([*line.split("\t"), "", "", ""])[:3]
        if t:
            rows.append((float(t), int(n or 0), 0))
    return rows


def zero_windows(pcap: Path) -> int:
    """Segments from the collector advertising a zero window (it could not keep up)."""
    out = subprocess.run(
        [
            "tshark",
            "-r",
            str(pcap),
            "-Y",
            f"ip.src == {COLLECTOR_V4} && tcp.analysis.zero_window",
            "-T",
            "fields",
            "-e",
            "frame.number",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return len(out.split())


def tcpdump(ns: Namespace, pcap: Path) -> subprocess.Popen[bytes]:
    proc = ns.popen(["tcpdump", "-i", "any", "-n", "-s", "96", "-w", str(pcap), "tcp port 11019"])
    time.sleep(1.5)
    return proc


def run(kind: str, lab: LabTopology) -> None:
    cfg = SpeakerConfig(
        neighbors=lab_neighbors(),
        collectors=(BmpTarget(COLLECTOR_V4),),
        stats_interval=0,
        loc_rib=kind == "gobgp",
    )
    peers = lab_peers()
    exa = ExaBgp(lab.inj, lab.workdir, peers)
    spk = make_speaker(kind, lab.spk, lab.workdir, cfg)
    with spk, exa:
        spk.wait_established([INJ_A_V4, INJ_B_V6], timeout=60)
        t0 = time.monotonic()
        lines = scale_lines(peers[0].selector)
        for i in range(0, len(lines), 25):
            exa.send(*lines[i : i + 25])
        held = (0, 0)
        while time.monotonic() - t0 < 300:
            held = speaker_routes(kind, spk)
            if held[0] >= V4 and held[1] >= V6:
                break
            time.sleep(2)
        print(
            f"{kind}: speaker holds {held[0]:,} IPv4 + {held[1]:,} IPv6 after {time.monotonic() - t0:.0f} s"
        )
        time.sleep(2)
        pcap = lab.workdir / f"{kind}-bmp.pcap"
        dump = tcpdump(lab.col, pcap)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        agent = lab.col.popen(
            [
                sys.executable,
                "-m",
                "agent.cli",
                "run",
                "--bmp-listen",
                f"{COLLECTOR_V4}:11019",
                "--http-listen",
                f"127.0.0.1:{HTTP_PORT}",
                "--log-level",
                "warning",
            ],
            env=env,
            cwd=ROOT,
            log=lab.workdir / "agent.log",
        )
        try:
            # Poll the RIB until it stops growing (5 s stable after the last change).
            last_n, last_change = -1, time.time()
            start = time.monotonic()
            while time.monotonic() - start < 180:
                n = agent_routes(lab.col)
                now = time.time()
                if n != last_n:
                    last_n, last_change = n, now
                elif n > 0 and now - last_change > 5:
                    break
                time.sleep(0.02)
            time.sleep(0.5)
        finally:
            dump.send_signal(2)
            dump.wait(10)
            agent.terminate()
            agent.wait(10)
        # The same speaker, same table, into a plain sink that only records
        # bytes: how fast the speaker emits when nothing holds it back.
        sink_pcap = lab.workdir / f"{kind}-sink.pcap"
        dump = tcpdump(lab.col, sink_pcap)
        try:
            with BmpSink(lab.col, COLLECTOR_V4, 11019) as sink:
                sink.wait_for(lambda s: len(s.data()) > 0, timeout=90, what="reconnect")
                sink.settle(quiet=5, timeout=120)
        except LabError as exc:
            # GoBGP 3.10 did not reconnect to the station after it closed.
            print(f"{kind}: plain sink: {str(exc).splitlines()[0]}")
        finally:
            dump.send_signal(2)
            dump.wait(10)
    segs = [s for s in segments(pcap) if s[1] > 0]
    if not segs:
        print(f"{kind}: no BMP bytes captured")
        return
    first, last = segs[0][0], segs[-1][0]
    total = sum(s[1] for s in segs)
    emit = last - first
    ingest = last_change - first
    print(
        f"{kind}: {total:,} bytes in {len(segs):,} segments; agent RIB {last_n:,} routes;"
        f" collector zero-window segments: {zero_windows(pcap)}"
    )
    print(
        f"{kind}: speaker emit time {emit:.2f} s (first -> last byte),"
        f" agent ingest time {ingest:.2f} s (first byte -> final RIB count);"
        f" ingest - emit = {ingest - emit:+.2f} s"
    )
    free = [s for s in segments(sink_pcap) if s[1] > 0]
    if free:
        free_emit = free[-1][0] - free[0][0]
        print(
            f"{kind}: into a plain sink (same run): {sum(s[1] for s in free):,} bytes,"
            f" speaker emit time {free_emit:.2f} s, zero-window segments:"
            f" {zero_windows(sink_pcap)}; agent ingest / free emit ="
            f" {ingest / free_emit if free_emit else float('inf'):.2f}x"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--speaker", choices=("frr", "gobgp", "both"), default="both")
    args = ap.parse_args()
    print("# bench/backpressure.py")
    print_machine()
    kinds = ("frr", "gobgp") if args.speaker == "both" else (args.speaker,)
    for kind in kinds:
        missing = missing_prerequisites(kind, "exabgp")
        if missing:
            print(f"{kind}: skipped, missing {', '.join(missing)}")
            continue
        with lab_topology() as lab:
            run(kind, lab)


if __name__ == "__main__":
    main()
