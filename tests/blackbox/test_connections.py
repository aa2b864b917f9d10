"""What a client holding connections can do to iamd (issue #13 item 6): a connection that sends
nothing, or trickles its headers or its body, is cut off after the request-read deadline; over
the connection cap, a new connection is closed at once while the others keep working."""

import resource
import socket
import time
import urllib.request

import botocore.exceptions

import iamd_support as S


def connect(srv) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    sock.settimeout(10)
    return sock


def closed_after(sock: socket.socket) -> float:
    """Seconds until the server closes the connection (reads whatever it sends first)."""
    start = time.monotonic()
    while sock.recv(4096):
        pass
    return time.monotonic() - start


def test_slow_clients_are_cut_off(server_factory):
    srv = server_factory("slow", extra_env={"IAMD_REQUEST_READ_SECONDS": "1"})
    # Sends nothing at all.
    idle = connect(srv)
    assert closed_after(idle) < 4
    # Trickles its headers, one line every half second.
    trickle = connect(srv)
    start = time.monotonic()
    trickle.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n")
    try:
        for i in range(20):
            time.sleep(0.5)
            trickle.sendall(f"X-Slow-{i}: y\r\n".encode())
    except OSError:
        pass  # the server closed it
    assert time.monotonic() - start < 5
    # Sends its headers but not all of its body: 408.
    body = connect(srv)
    body.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                 b"Content-Length: 100\r\n\r\nAction=Get")
    start = time.monotonic()
    answer = body.recv(4096)
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert time.monotonic() - start < 4
    # Well-behaved clients are not affected.
    assert S.make_client("sts", srv.endpoint).get_caller_identity()["Account"]


def test_connections_over_the_cap_are_closed_at_once(server_factory):
    srv = server_factory("capped", extra_env={"IAMD_MAX_CONNECTIONS": "3", "IAMD_REQUEST_READ_SECONDS": "30"})
    held = [connect(srv) for _ in range(3)]
    time.sleep(0.3)
    over = connect(srv)
    assert closed_after(over) < 2
    held.pop().close()
    # The slot comes back once the server has seen that connection end (a moment, longer on a
    # loaded machine): a request succeeds within a few seconds, while two connections stay held.
    deadline = time.monotonic() + 10
    while True:
        try:
            assert S.make_client("sts", srv.endpoint).get_caller_identity()["Account"] == S.ACCOUNT_ID
            break
        except botocore.exceptions.ConnectionClosedError:
            assert time.monotonic() < deadline, "the freed slot never came back"
            time.sleep(0.2)
    for sock in held:
        sock.close()


def test_a_new_root_key_replaces_the_old_one(server_factory, tmp_path):
    """Restarting with another configured root key rotates it: the old key stops working."""
    data = tmp_path / "rotate-data"
    first = server_factory("rotate1", data_dir=data)
    assert S.make_client("sts", first.endpoint).get_caller_identity()["Account"] == S.ACCOUNT_ID
    assert first.stop() == 0
    new = S.Creds("AKIAIAMDROTATEDROOT1", "rotatedRootSecret0123456789abcdefghijKL")
    second = server_factory("rotate2", data_dir=data, extra_env={
        "IAMD_ROOT_ACCESS_KEY_ID": new.access_key_id, "IAMD_ROOT_SECRET_ACCESS_KEY": new.secret_access_key})
    assert S.make_client("sts", second.endpoint, new).get_caller_identity()["Arn"] == S.ROOT_ARN
    with S.expect_error("InvalidClientTokenId", 403):
        S.make_client("sts", second.endpoint).get_caller_identity()


def test_a_thousand_slow_sockets_do_not_stop_service(server_factory):
    """A slowloris of 1,000 sockets trickling headers: /health and signed requests still answer,
    and the sockets are gone after the deadline."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    srv = server_factory("loris", extra_env={"IAMD_REQUEST_READ_SECONDS": "3"})
    sockets = []
    for _ in range(1000):
        sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n")
        sockets.append(sock)
    try:
        with urllib.request.urlopen(f"{srv.endpoint}/health", timeout=5) as r:
            assert r.status == 200
        assert S.make_client("sts", srv.endpoint).get_caller_identity()["Account"] == S.ACCOUNT_ID
        time.sleep(4)
        # After the deadline the server has closed them: each reads EOF (or a reset).
        closed = 0
        for sock in sockets:
            sock.setblocking(False)
            try:
                closed += sock.recv(1) == b""
            except ConnectionResetError:
                closed += 1
            except BlockingIOError:
                pass
        assert closed >= 990, closed
    finally:
        for sock in sockets:
            sock.close()
