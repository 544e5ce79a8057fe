#!/usr/bin/env python3
"""Soak test against rtmsg-testbed: continuous publishing (POST /publish, sequence-numbered) to
SUBSCRIBERS WebSocket subscribers of /broadcast that keep up, while CHURN other clients (WebSocket
and SSE) connect and disconnect at random.  At the end every steady subscriber must have received
every message exactly once, in order; the server's descriptors must be back to their baseline and
its memory must not have grown by more than --slack-mb after the first minute.

    soak.py TESTBED [--seconds 300] [--subscribers 1000] [--rate 200] [--churn 50]
"""
import argparse
import asyncio
import base64
import os
import random
import resource
import time

from scale import client_frame, fds, rss_kb, settled_fds, start_server, stop_server


async def ws_open(port):
    r, w = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    w.write((f"GET /broadcast HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = await r.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head[:40]
    return r, w


async def read_message(r):
    hdr = await r.readexactly(2)
    n = hdr[1] & 0x7F
    if n == 126:
        n = int.from_bytes(await r.readexactly(2), "big")
    elif n == 127:
        n = int.from_bytes(await r.readexactly(8), "big")
    return hdr[0] & 0x0F, await r.readexactly(n)


async def steady(port, seen, stop):
    r, w = await ws_open(port)
    expect = None
    errors = []
    while True:
        op, data = await read_message(r)
        if op == 9:  # ping
            w.write(client_frame(10, data))
            continue
        if op != 1:
            break
        n = int(data)
        if n < 0:  # the end marker
            break
        if expect is not None and n != expect:
            errors.append((expect, n))
        expect = n + 1
        seen.append(n)
    w.write(client_frame(8, b"\x03\xe8"))
    w.close()
    return errors


async def churner(port, stop):
    while not stop.is_set():
        try:
            if random.random() < 0.5:
                r, w = await ws_open(port)
                await asyncio.sleep(random.random() * 2)
                if random.random() < 0.5:
                    w.write(client_frame(8, b"\x03\xe8"))
                w.close()
            else:
                r, w = await asyncio.open_connection("127.0.0.1", port)
                w.write(b"GET /sse HTTP/1.1\r\nHost: t\r\nAccept: text/event-stream\r\n\r\n")
                await r.readuntil(b"\r\n\r\n")
                await asyncio.sleep(random.random() * 2)
                w.close()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        await asyncio.sleep(random.random() * 0.2)


async def publisher(port, rate, seconds):
    r, w = await asyncio.open_connection("127.0.0.1", port)
    n = 0
    t0 = time.time()
    while time.time() - t0 < seconds:
        body = str(n).encode()
        w.write(b"POST /publish HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        resp = await r.readuntil(b"\r\n\r\n")
        assert resp.startswith(b"HTTP/1.1 204"), resp
        n += 1
        await asyncio.sleep(max(0.0, t0 + n / rate - time.time()))
    w.write(b"POST /publish HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nConnection: close\r\n\r\n-1")
    await r.read()
    return n


async def run(port, a, srv_pid):
    stop = asyncio.Event()
    seens = [[] for _ in range(a.subscribers)]
    subs = [asyncio.ensure_future(steady(port, seens[i], stop)) for i in range(a.subscribers)]
    await asyncio.sleep(2)
    churn = [asyncio.ensure_future(churner(port, stop)) for _ in range(a.churn)]
    base_rss = None

    async def sample():
        nonlocal base_rss
        await asyncio.sleep(min(60, a.seconds / 3))
        base_rss = rss_kb(srv_pid)

    sampler = asyncio.ensure_future(sample())
    published = await publisher(port, a.rate, a.seconds)
    stop.set()
    await asyncio.gather(*churn)
    await sampler
    results = await asyncio.wait_for(asyncio.gather(*subs), 120)
    bad = [(i, e[:3]) for i, e in enumerate(results) if e]
    short = [i for i, s in enumerate(seens) if len(s) != published]
    return published, bad, short, base_rss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("testbed")
    ap.add_argument("--seconds", type=float, default=300)
    ap.add_argument("--subscribers", type=int, default=1000)
    ap.add_argument("--rate", type=float, default=200)
    ap.add_argument("--churn", type=int, default=50)
    ap.add_argument("--slack-mb", type=int, default=16)
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(soft, a.subscribers * 2 + a.churn * 4 + 1000), hard), hard))
    srv, port = start_server(a.testbed)
    ok = True
    try:
        base_fds = settled_fds(srv.pid)
        published, bad, short, base_rss = asyncio.run(run(port, a, srv.pid))
        deadline = time.time() + 15
        while fds(srv.pid) > base_fds and time.time() < deadline:
            time.sleep(0.1)
        end_rss = rss_kb(srv.pid)
        print(f"published {published} messages to {a.subscribers} steady subscribers with {a.churn} churners "
              f"for {a.seconds:.0f}s; fds {fds(srv.pid)} (baseline {base_fds}); rss {base_rss // 1024} -> "
              f"{end_rss // 1024} MiB", flush=True)
        if bad:
            print(f"FAIL: out of order or duplicated at {bad[:5]}")
            ok = False
        if short:
            print(f"FAIL: {len(short)} subscribers missed messages")
            ok = False
        if fds(srv.pid) != base_fds:
            print("FAIL: descriptors leaked")
            ok = False
        if end_rss > base_rss + a.slack_mb * 1024:
            print("FAIL: memory grew")
            ok = False
    finally:
        rc = stop_server(srv)
    # SIGTERM stops the testbed gracefully: it must exit 0 (under ASan: no leak, no error).
    if rc != 0:
        print(f"FAIL: the server exited with {rc}")
        ok = False
    print("OK" if ok else "FAILED")
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
