"""The command line: version, config errors, API client errors, replay."""

from __future__ import annotations

import gzip
import http.server
import json
import re
import socket
import threading
from pathlib import Path

import pytest

from agent import __version__, build
from agent.cli.main import build_parser, human_duration, main, table
from agent.cli.replay import count_messages, replay
from agent.config import Endpoint

CAPTURES = Path(__file__).resolve().parents[2] / "tests" / "data" / "captures"
WAIT = 20.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Sink:
    """A one-connection BMP station on loopback that records every byte."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.sock.settimeout(WAIT)
        self.port = int(self.sock.getsockname()[1])
        self.data = bytearray()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        conn, _ = self.sock.accept()
        with conn:
            conn.settimeout(WAIT)
            while chunk := conn.recv(65536):
                self.data += chunk

    def join(self) -> bytes:
        self.thread.join(WAIT)
        self.sock.close()
        assert not self.thread.is_alive()
        return bytes(self.data)


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out == f"bmp-agent {__version__} ({build.describe()})\n"


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().err


def test_run_config_error_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["run", "--bmp-listen", "127.0.0.1:1", "--bmp-listen", "foo"])
    assert rc == 2
    assert capsys.readouterr().err == (
        "bmp-agent: configuration error: bmp.listen[1]: 'foo' is not HOST:PORT "
        "(from flag --bmp-listen)\n"
    )


def test_run_config_error_from_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("bmp:\n  allow: [10.0.0.0/33]\n")
    assert main(["run", "--config", str(path)]) == 2
    assert capsys.readouterr().err == (
        "bmp-agent: configuration error: bmp.allow[0]: '10.0.0.0/33' is not a CIDR "
        f"('10.0.0.0/33' does not appear to be an IPv4 or IPv6 network) (from config file {path})\n"
    )


def test_run_config_error_from_env(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BMP_AGENT_HTTP_LISTEN", "127.0.0.1:99999")
    assert main(["run"]) == 2
    assert capsys.readouterr().err == (
        "bmp-agent: configuration error: http.listen: '127.0.0.1:99999': port 99999 is out of "
        "range 0-65535 (from environment variable BMP_AGENT_HTTP_LISTEN)\n"
    )


def test_peers_api_unreachable(capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    assert main(["peers", "--api", f"http://127.0.0.1:{port}"]) == 1
    assert capsys.readouterr().err == (
        f"bmp-agent peers: cannot reach the agent API at http://127.0.0.1:{port}: "
        "[Errno 111] Connection refused\n"
    )


def test_subcommands_registered() -> None:
    parser = build_parser()
    import agent.cli.decode
    import agent.cli.replay

    assert parser.parse_args(["decode", "x.bmp"]).func is agent.cli.decode.run
    args = parser.parse_args(["replay", "x.bmp", "--to", "[::1]:11019", "--rate", "5", "--hold"])
    assert args.func is agent.cli.replay.run
    assert (args.to, args.rate, args.hold) == (Endpoint("::1", 11019), 5.0, True)


def test_table_and_duration() -> None:
    assert table(["A", "BB"], [["x", None], ["long", 3]]) == "A     BB\nx     -\nlong  3"
    assert [human_duration(s) for s in (5, 65, 3700, 90000, None)] == [
        "5s",
        "1m5s",
        "1h1m",
        "1d1h",
        "-",
    ]


# ------------------------------------------------------------------ replay


def test_replay_sends_the_capture_byte_for_byte(capsys: pytest.CaptureFixture[str]) -> None:
    sink = Sink()
    rc = main(["replay", str(CAPTURES / "frr-basic.bmp"), "--to", f"127.0.0.1:{sink.port}"])
    assert rc == 0
    assert sink.join() == (CAPTURES / "frr-basic.bmp").read_bytes()
    assert capsys.readouterr().out == (
        f"replayed 276 messages (31315 bytes) to 127.0.0.1:{sink.port}\n"
    )


def test_replay_gzip(tmp_path: Path) -> None:
    raw = (CAPTURES / "frr-addpath.bmp").read_bytes()
    gz = tmp_path / "frr-addpath.bmp.gz"
    gz.write_bytes(gzip.compress(raw))
    assert count_messages(str(gz)) == 44  # 1 + 2 + 30 + 10 + 1 (capture README)
    sink = Sink()
    assert replay(str(gz), Endpoint("127.0.0.1", sink.port)) == (44, 4941)
    assert sink.join() == raw


def test_replay_rate_limit_paces_messages() -> None:
    now = [100.0]
    sleeps: list[float] = []

    def sleep(d: float) -> None:
        sleeps.append(round(d, 6))
        now[0] += d

    sink = Sink()
    sent = replay(
        str(CAPTURES / "bird-addpath.bmp"),
        Endpoint("127.0.0.1", sink.port),
        rate=20.0,
        sleep=sleep,
        clock=lambda: now[0],
    )
    assert sent == (47, 5577)  # 1 + 2 + 43 + 1
    assert sleeps == [0.05] * 46  # message 0 goes at once, then one every 1/20 s
    sink.join()


def test_replay_truncated_capture(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    raw = (CAPTURES / "frr-addpath.bmp").read_bytes()
    bad = tmp_path / "cut.bmp"
    bad.write_bytes(raw[:-10])
    sink = Sink()
    rc = main(["replay", str(bad), "--to", f"127.0.0.1:{sink.port}"])
    assert rc == 1
    sink.join()
    err = capsys.readouterr().err
    # The last message (108 bytes at offset 4833) lost its last 10 bytes.
    assert err == (
        f"bmp-agent replay: {bad}: capture ends inside a message (98 bytes left) "
        "at offset 4833 (action: skip_message)\n"
    )


def test_replay_connection_refused(capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    rc = main(["replay", str(CAPTURES / "frr-addpath.bmp"), "--to", f"127.0.0.1:{port}"])
    assert rc == 1
    assert capsys.readouterr().err == f"bmp-agent replay: 127.0.0.1:{port}: Connection refused\n"


def test_replay_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.bmp"
    assert main(["replay", str(missing), "--to", "127.0.0.1:1"]) == 2
    assert capsys.readouterr().err == (
        f"bmp-agent replay: cannot read {missing}: No such file or directory\n"
    )


def test_replay_bad_target(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["replay", "x.bmp", "--to", "nowhere"])
    assert info.value.code == 2
    assert "argument --to: 'nowhere' is not HOST:PORT" in capsys.readouterr().err


# ------------------------------------------------------------------ logging


def test_log_json_when_not_a_tty_and_runtime_level() -> None:
    import io
    import json

    import structlog

    from agent import log

    out = io.StringIO()  # isatty() is False: "auto" means JSON
    try:
        log.configure("info", "auto", stream=out)
        logger = log.get_logger(router="192.0.2.1:179")
        logger.debug("hidden")
        logger.info("router connected", mode="passive")
        log.set_level("debug")  # what SIGHUP does; the bound logger follows
        logger.debug("now visible")
        lines = [json.loads(line) for line in out.getvalue().splitlines()]
        assert [(e["event"], e["level"], e["router"]) for e in lines] == [
            ("router connected", "info", "192.0.2.1:179"),
            ("now visible", "debug", "192.0.2.1:179"),
        ]
        assert lines[0]["mode"] == "passive" and lines[0]["timestamp"].endswith("Z")
    finally:
        log.set_level("info")
        structlog.reset_defaults()


def test_log_console_format() -> None:
    import io

    import structlog

    from agent import log

    out = io.StringIO()
    try:
        log.configure("warning", "console", stream=out)
        log.get_logger().info("dropped")
        log.get_logger(peer="10.0.1.2").warning("peer down", reason="remote_no_notification")
        text = out.getvalue()
        assert "dropped" not in text
        assert text.count("\n") == 1
        assert "[warning  ] peer down" in text
        assert text.rstrip("\n").endswith("peer=10.0.1.2 reason=remote_no_notification")
    finally:
        log.set_level("info")
        structlog.reset_defaults()


def test_routes_table_prints_the_as_path_segments_of_the_api() -> None:
    from agent.cli.main import as_path_text, render_routes

    segments = [
        {"type": "sequence", "asns": [65001, 4200000001]},
        {"type": "set", "asns": [1, 2]},
        {"type": "confed_sequence", "asns": [65010, 65011]},
        {"type": "confed_set", "asns": [7]},
    ]
    assert as_path_text(segments) == "65001 4200000001 {1,2} (65010 65011) [7]"
    assert as_path_text(None) == "-"
    route = {
        "router": "r1",
        "peer": "10.0.0.1",
        "view": "adj_in_pre",
        "prefix": "192.0.2.0/24",
        "path_id": None,
        "attributes": {"next_hop": "10.0.0.1", "as_path": segments[:2]},
    }
    assert re.split(r"  +", render_routes([route]).splitlines()[1]) == [
        "r1",
        "10.0.0.1",
        "pre",
        "192.0.2.0/24",
        "-",
        "10.0.0.1",
        "65001 4200000001 {1,2}",
        "-",
        "-",
    ]


class FakeApi:
    """A loopback HTTP server answering canned JSON per path; records each
    request's path and query string."""

    def __init__(self, answers: dict[str, object]) -> None:
        self.requests: list[str] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.requests.append(self.path)
                body = json.dumps(answers[self.path.split("?")[0]]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeApi:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(WAIT)


def test_api_subcommands_send_their_flags_and_reject_odd_answers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """doctor, fib-diff and history put only the flags given in the query (a
    switch as 1) and refuse an answer of the wrong shape, naming the path."""
    answers = {
        "/api/v1/health": {"firing": 0},  # no "checks" list
        "/api/v1/fib/diff": [1, 2],  # not an object
        "/api/v1/history": {"events": []},
    }
    with FakeApi(answers) as api:
        assert main(["doctor", "--api", api.url, "--router", "r1"]) == 1
        assert capsys.readouterr().err == (
            "bmp-agent doctor: unexpected API answer for /api/v1/health\n"
        )
        argv = ["fib-diff", "--api", api.url, "--state", "missing", "--limit", "5", "--pending"]
        assert main(argv) == 1
        assert capsys.readouterr().err == (
            "bmp-agent fib-diff: unexpected API answer for /api/v1/fib/diff\n"
        )
        argv = ["history", "--api", api.url, "10.0.0.0/8", "--since", "12.5", "--limit", "3"]
        assert main(argv) == 4
        assert capsys.readouterr().err == ""
        assert main(["history", "--api", api.url, "--router", "r1"]) == 2
        assert capsys.readouterr().err == "bmp-agent history: a PREFIX is required\n"
        assert main(["doctor", "--api", api.url]) == 1
        capsys.readouterr()
    assert api.requests == [
        "/api/v1/health?router=r1",
        "/api/v1/fib/diff?state=missing&limit=5&pending=1",
        "/api/v1/history?prefix=10.0.0.0%2F8&since=12.5&limit=3",
        "/api/v1/health",
    ]


def test_doctor_prints_the_api_document_with_json(capsys: pytest.CaptureFixture[str]) -> None:
    doc = {"firing": 1, "checks": [{"name": "x", "status": "firing"}]}
    with FakeApi({"/api/v1/health": doc}) as api:
        assert main(["doctor", "--api", api.url, "--json"]) == 3
    assert json.loads(capsys.readouterr().out) == doc
