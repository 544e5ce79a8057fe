#!/usr/bin/env python3
"""Opens, uses and closes N WebSocket and N SSE connections against rtmsg-testbed, twice, and
checks that the server's descriptors come back to their baseline and its memory does not grow
from one round to the next (the first round warms the allocator; the second must reuse it).

    scale.py TESTBED [--conns 10000] [--rounds 2] [--slack-mb 16]
"""
import argparse
import asyncio
import base64
import os
import resource
import subprocess
import time


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def settled_fds(pid, timeout=5.0):
    """The server's descriptor count once it stops changing: right after "listening" a
    starting server (slower under sanitizers) may still hold a descriptor or two that it
    closes a moment later, and a baseline taken then makes the end-of-run count look short."""
    last = fds(pid)
    deadline = time.time() + timeout
    while time.time() < deadline:
        time.sleep(0.2)
        now = fds(pid)
        if now == last:
            return now
        last = now
    return last


def mask(payload, key=b"\x01\x02\x03\x04"):
    return bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def client_frame(op, payload):
    n = len(payload)
    assert n < 126
    return bytes([0x80 | op, 0x80 | n]) + b"\x01\x02\x03\x04" + mask(payload)


HANDSHAKES = None  # at most this many handshakes in flight (the listen backlog is finite)


async def ws_client(port, opened, go, got):
    async with HANDSHAKES:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        key = base64.b64encode(os.urandom(16)).decode()
        w.write((f"GET /broadcast HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        head = await r.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head[:40]
    opened()
    await go.wait()
    while True:
        hdr = await r.readexactly(2)
        n = hdr[1] & 0x7F
        data = await r.readexactly(n)
        if hdr[0] & 0x0F == 9:  # a keepalive ping: answer it
            w.write(client_frame(10, data))
            continue
        break
    assert hdr[0] & 0x0F == 1 and data == b"scale", (hdr, data)
    got()
    w.write(client_frame(8, b"\x03\xe8"))
    await w.drain()
    await r.read()  # the server's close, then EOF
    w.close()


async def sse_client(port, opened, go, got):
    async with HANDSHAKES:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(b"GET /sse HTTP/1.1\r\nHost: t\r\nAccept: text/event-stream\r\n\r\n")
        head = await r.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head[:40]
    opened()
    await go.wait()
    while True:
        line = await r.readline()
        if line.startswith(b"data:"):
            assert b"scale" in line, line
            break
    got()
    w.close()
    await w.wait_closed()


async def publish(port):
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(b"POST /publish HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nConnection: close\r\n\r\nscale")
    await w.drain()
    resp = await r.read()
    assert resp.startswith(b"HTTP/1.1 204"), resp[:40]
    w.close()


async def one_kind(port, kind, n):
    global HANDSHAKES
    HANDSHAKES = asyncio.Semaphore(100)
    go = asyncio.Event()
    counts = {"opened": 0, "got": 0}

    def opened():
        counts["opened"] += 1

    def got():
        counts["got"] += 1

    fn = ws_client if kind == "ws" else sse_client
    t0 = time.time()
    tasks = [asyncio.ensure_future(fn(port, opened, go, got)) for _ in range(n)]
    while counts["opened"] < n:
        await asyncio.sleep(0.05)
        if time.time() - t0 > 120:
            raise SystemExit(f"{kind}: only {counts['opened']} of {n} opened")
    await publish(port)
    go.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 120)
    assert counts["got"] == n, counts
    return time.time() - t0


def start_server(testbed):
    """Starts the testbed on a free port; returns (process, port).

    Under AddressSanitizer, freed memory waits in a quarantine (256 MiB by default) that fills
    over minutes and reads as growth: it is kept small so that the memory checks mean the same
    as without sanitizers.  4 MiB fills within the soak's first seconds, before its baseline
    sample; at 16 MiB (the soak's slack) the quarantine still filling after the sample made
    the 30 s soak grow by 16 MiB and fail by a few KiB.  LeakSanitizer stays on and runs when
    the server exits."""
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS", ""), "quarantine_size_mb=4",
                                                 "thread_local_quarantine_size_kb=256"]))
    srv = subprocess.Popen([testbed, "--port", "0"], stdout=subprocess.PIPE, text=True, env=env)
    return srv, int(srv.stdout.readline().rsplit(":", 1)[1])


def stop_server(srv):
    """SIGTERM stops the testbed gracefully; returns its exit status (0 when all went well,
    which under ASan also means no leak and no error report)."""
    srv.terminate()
    try:
        return srv.wait(30)
    except subprocess.TimeoutExpired:
        srv.kill()
        return srv.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("testbed")
    ap.add_argument("--conns", type=int, default=10000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--slack-mb", type=int, default=16)
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = a.conns * 2 + 1000
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))
    srv, port = start_server(a.testbed)
    try:
        base_fds = settled_fds(srv.pid)
        rss = []
        for rnd in range(a.rounds):
            for kind in ("ws", "sse"):
                took = asyncio.run(one_kind(port, kind, a.conns))
                print(f"round {rnd}: {a.conns} {kind} connections opened, used and closed in {took:.1f}s", flush=True)
            deadline = time.time() + 10
            while fds(srv.pid) > base_fds and time.time() < deadline:
                time.sleep(0.1)
            rss.append(rss_kb(srv.pid))
            print(f"round {rnd}: server fds {fds(srv.pid)} (baseline {base_fds}), rss {rss[-1] // 1024} MiB", flush=True)
            if fds(srv.pid) != base_fds:
                raise SystemExit(f"FAIL: descriptors leaked: {fds(srv.pid)} vs {base_fds}")
        if len(rss) > 1 and rss[-1] > rss[0] + a.slack_mb * 1024:
            raise SystemExit(f"FAIL: memory grew from {rss[0]} kB to {rss[-1]} kB")
    finally:
        rc = stop_server(srv)
    if rc != 0:
        raise SystemExit(f"FAIL: the server exited with {rc}")
    print("OK")


if __name__ == "__main__":
    main()
