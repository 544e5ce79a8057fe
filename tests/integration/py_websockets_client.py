#!/usr/bin/python3
"""A real peer: the Python `websockets` library (Debian's python3-websockets, 10.x) against a
server that follows shared/testbed.md.

    /usr/bin/python3 tests/integration/py_websockets_client.py --url ws://127.0.0.1:PORT \
        [--max-message N] [--ca CERT]          (wss://... with --ca to verify the server)

`--url` may name the echo path (ws://host:port/echo); without a path, /echo is used, and
/broadcast is found next to it. `--max-message` is the server's limit (testbed default 16 MiB).

Prints `PASS name` / `FAIL name: why` per check and ends with `N passed, M failed`; the exit
status is non-zero if anything failed.
"""

import argparse
import asyncio
import os
import ssl
import sys
import time
import urllib.parse

try:
    import websockets
    from websockets.exceptions import ConnectionClosed
except ImportError:  # the python3 first on PATH may not see Debian's packages
    print("FAIL import websockets: run this with /usr/bin/python3 (apt-get install python3-websockets)")
    print("0 passed, 1 failed")
    sys.exit(1)

MiB = 1024 * 1024
TIMEOUT = 30.0


class Check(Exception):
    pass


def text_of(n):
    """A str whose UTF-8 encoding is exactly n bytes, with 1- to 4-byte characters."""
    unit = "a\u00e9\u20ac\U0001f600"  # 1 + 2 + 3 + 4 = 10 bytes
    return unit * (n // 10) + "x" * (n % 10)


def bytes_of(n):
    return os.urandom(n)


def differs(got, want):
    if type(got) is not type(want):
        return "got %s, expected %s" % (type(got).__name__, type(want).__name__)
    if len(got) != len(want):
        return "got %d %s, expected %d" % (len(got), "chars" if isinstance(got, str) else "bytes", len(want))
    for i, (a, b) in enumerate(zip(got, want)):
        if a != b:
            return "same length, first difference at offset %d" % i
    return None


class Runner:
    def __init__(self, args):
        parts = urllib.parse.urlsplit(args.url)
        self.base = "%s://%s" % (parts.scheme, parts.netloc)
        self.echo_url = self.base + (parts.path if parts.path not in ("", "/") else "/echo")
        self.broadcast_url = self.base + "/broadcast"
        self.max_message = args.max_message
        self.ssl = None
        if parts.scheme == "wss":
            self.ssl = ssl.create_default_context(cafile=args.ca) if args.ca else ssl.create_default_context()
        self.passed = 0
        self.failed = 0
        self.patterns = args.patterns

    def connect(self, url=None, **kw):
        kw.setdefault("max_size", self.max_message + MiB)  # larger than the server: it must enforce
        kw.setdefault("ping_interval", None)
        kw.setdefault("open_timeout", 10)
        kw.setdefault("close_timeout", 10)
        if self.ssl is not None:
            kw["ssl"] = self.ssl
        return websockets.connect(url or self.echo_url, **kw)

    async def run(self, name, coro_fn):
        if self.patterns and not any(p in name for p in self.patterns):
            return
        started = time.monotonic()
        try:
            await asyncio.wait_for(coro_fn(), TIMEOUT)
        except Check as e:
            self.fail(name, str(e))
        except asyncio.TimeoutError:
            self.fail(name, "timed out after %.0f s" % TIMEOUT)
        except Exception as e:  # a library error is a finding, not a crash of the runner
            self.fail(name, "%s: %s" % (type(e).__name__, e))
        else:
            self.passed += 1
            print("PASS %s (%.2f s)" % (name, time.monotonic() - started), flush=True)

    def fail(self, name, why):
        self.failed += 1
        print("FAIL %s: %s" % (name, why), flush=True)


async def expect_echo(ws, payload):
    await ws.send(payload)
    got = await ws.recv()
    why = differs(got, payload)
    if why:
        raise Check("echo differs: " + why)


async def clean_close(ws, code=1000, reason="bye"):
    await ws.close(code, reason)
    if ws.close_code != code:
        raise Check("server answered close %d with %s" % (code, ws.close_code))


async def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", required=True, help="ws://HOST:PORT[/echo] or wss://...")
    ap.add_argument("--ca", help="CA certificate that signed the server's (for wss)")
    ap.add_argument("--max-message", type=int, default=16 * MiB, help="the server's --max-message")
    ap.add_argument("-k", dest="patterns", action="append", default=[], help="run checks whose name contains this")
    args = ap.parse_args()
    r = Runner(args)
    big = 16 * MiB - 64
    sizes = [0, 1, 125, 126, 65535, 65536, MiB, big]
    sizes = [n for n in sizes if n <= r.max_message]

    async def handshake():
        async with r.connect() as ws:
            ext = ws.response_headers.get("Sec-WebSocket-Extensions")
            print("# connected to %s; extensions negotiated: %s" % (r.echo_url, ext or "none"))
            await expect_echo(ws, "hello")
            await clean_close(ws)
    await r.run("handshake, one echo and a clean close", handshake)

    # ---- echo of every size, text and binary, on one connection each
    for kind, make in (("text", text_of), ("binary", bytes_of)):
        for n in sizes:
            async def echo_one(n=n, make=make):
                async with r.connect() as ws:
                    await expect_echo(ws, make(n))
                    await clean_close(ws)
            await r.run("echo %s %d bytes" % (kind, n), echo_one)

    async def many_on_one():
        async with r.connect() as ws:
            for i in range(200):
                await expect_echo(ws, text_of(i * 37) if i % 2 else bytes_of(i * 37))
            await clean_close(ws)
    await r.run("200 text/binary messages of growing size on one connection", many_on_one)

    async def pipelined():
        async with r.connect() as ws:
            msgs = ["message %d" % i for i in range(1000)]
            for m in msgs:
                await ws.send(m)
            for m in msgs:
                got = await ws.recv()
                if got != m:
                    raise Check("expected %r, got %r" % (m, got[:40]))
            await clean_close(ws)
    await r.run("1000 messages sent before reading are echoed in order", pipelined)

    # ---- fragmented sends: websockets sends an iterable as one fragmented message
    async def fragmented_text():
        async with r.connect() as ws:
            await ws.send(["fragment-1 ", "\u03ba\u1f79\u03c3\u03bc\u03b5 ", "", "\U0001f600 end"])
            got = await ws.recv()
            want = "fragment-1 \u03ba\u1f79\u03c3\u03bc\u03b5 \U0001f600 end"
            if got != want:
                raise Check("got %r, expected %r" % (got, want))
            await clean_close(ws)
    await r.run("fragmented text message (4 fragments, one empty) is echoed whole", fragmented_text)

    async def fragmented_binary():
        payload = bytes_of(min(MiB, r.max_message))
        async with r.connect() as ws:
            await ws.send([payload[i:i + 65536] for i in range(0, len(payload), 65536)])
            got = await ws.recv()
            why = differs(got, payload)
            if why:
                raise Check(why)
            await clean_close(ws)
    await r.run("fragmented binary message (64 KiB fragments) is echoed whole", fragmented_binary)

    async def async_fragments():
        async def gen():
            for i in range(100):
                yield b"%03d" % i
                await asyncio.sleep(0)
        async with r.connect() as ws:
            await ws.send(gen())
            got = await ws.recv()
            want = b"".join(b"%03d" % i for i in range(100))
            if got != want:
                raise Check("got %r..." % got[:30])
            await clean_close(ws)
    await r.run("fragmented message from an async iterator (100 fragments) is echoed whole", async_fragments)

    # ---- ping / pong
    for label, data in (("empty", b""), ("16-byte", b"ping from python"), ("125-byte", bytes(range(125)))):
        async def ping_one(data=data):
            async with r.connect() as ws:
                waiter = await ws.ping(data)
                await asyncio.wait_for(waiter, 5)
                await clean_close(ws)
        await r.run("ping with %s payload gets its pong" % label, ping_one)

    async def ten_pings():
        async with r.connect() as ws:
            waiters = [await ws.ping(b"ping %d" % i) for i in range(10)]
            await asyncio.wait_for(asyncio.gather(*waiters), 5)
            await expect_echo(ws, "after pings")
            await clean_close(ws)
    await r.run("10 pings in a row all get pongs", ten_pings)

    # ---- client-initiated close: every valid code is echoed
    for code in (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 4999):
        async def close_one(code=code):
            async with r.connect() as ws:
                await expect_echo(ws, "before close %d" % code)
                await clean_close(ws, code, "closing with %d" % code)
        await r.run("close %d is echoed" % code, close_one)

    # ---- limits
    async def over_limit(fragmented):
        n = r.max_message + 1
        payload = bytes_of(n)
        async with r.connect() as ws:
            try:
                if fragmented:
                    await ws.send([payload[i:i + 65536] for i in range(0, n, 65536)])
                else:
                    await ws.send(payload)
                got = await ws.recv()
                raise Check("a %d-byte message over the limit was answered with a %d-byte message" % (n, len(got)))
            except ConnectionClosed:
                pass
            await ws.wait_closed()
            if ws.close_code != 1009:
                raise Check("close code %s, expected 1009" % ws.close_code)
    await r.run("message of --max-message + 1 bytes gets close 1009", lambda: over_limit(False))
    await r.run("fragmented message over --max-message gets close 1009", lambda: over_limit(True))

    async def after_limit():
        async with r.connect() as ws:
            await expect_echo(ws, "the server still serves new connections")
            await clean_close(ws)
    await r.run("a new connection still works after the 1009 closes", after_limit)

    # ---- several clients at once
    async def concurrent():
        async def one(i):
            async with r.connect() as ws:
                for j in range(50):
                    await expect_echo(ws, "client %d message %d" % (i, j))
                await clean_close(ws)
        await asyncio.gather(*(one(i) for i in range(8)))
    await r.run("8 concurrent clients x 50 echoes", concurrent)

    # ---- /broadcast: everyone, the sender included, gets each message with its opcode
    async def broadcast():
        async with r.connect(r.broadcast_url) as a, r.connect(r.broadcast_url) as b:
            await sync_broadcast(a, [a, b])
            for payload in ("hello from python", b"\x00\x01binary\xff"):
                await a.send(payload)
                for who, ws in (("sender", a), ("other", b)):
                    got = await recv_skipping_sync(ws)
                    if got != payload:
                        raise Check("%s got %r, expected %r" % (who, got, payload))
            await clean_close(a)
            await clean_close(b)
    await r.run("/broadcast: a message from one client reaches both, same opcode", broadcast)

    print("%d passed, %d failed" % (r.passed, r.failed), flush=True)
    return 0 if r.failed == 0 and r.passed > 0 else 1


SYNC = "sync:"


async def sync_broadcast(sender, receivers):
    """Send markers until every receiver has seen one (its subscription is live)."""
    token = "%s%s" % (SYNC, os.urandom(6).hex())
    pending = set(range(len(receivers)))
    for _ in range(50):
        await sender.send(token)
        for i in list(pending):
            try:
                while True:
                    got = await asyncio.wait_for(receivers[i].recv(), 0.1)
                    if got == token:
                        pending.discard(i)
                        break
            except asyncio.TimeoutError:
                pass
        if not pending:
            return
    raise Check("broadcast markers never reached %d of the clients" % len(pending))


async def recv_skipping_sync(ws):
    while True:
        got = await asyncio.wait_for(ws.recv(), 5)
        if not (isinstance(got, str) and got.startswith(SYNC)):
            return got


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
