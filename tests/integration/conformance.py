#!/usr/bin/env python3
"""RFC 6455 conformance suite for a server that follows shared/testbed.md.

Autobahn|Testsuite-style numbered cases, written against raw TCP (or TLS) sockets with the
Python standard library only, so that any malformed byte sequence can be sent.

    /usr/bin/python3 tests/integration/conformance.py --host 127.0.0.1 --port PORT \
        [--path /echo] [--max-message N] [-k PATTERN]... [--tls [--ca FILE]] [--list]

Groups: 1 framing, 2 ping/pong, 3 reserved bits, 4 opcodes, 5 fragmentation, 6 UTF-8,
7 close handling, 9 limits and pipelining, 10 masking, handshake and the HTTP front door.

Each case prints `PASS <id> <description>` or `FAIL <id> <description>: <why>`; the last line
is `N passed, M failed`. The exit status is 0 only when every selected case passed.
After every case a fresh connection must still get an echo from the server, so a server that
hangs or dies on bad input fails the case that did it.

`--max-message` tells the suite the server's limit (the testbed's default is 16 MiB): the
largest framing cases send exactly that many bytes and the limit cases send one byte more.
"""

import argparse
import base64
import hashlib
import os
import re
import select
import socket
import ssl
import struct
import sys
import time
import traceback

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
KIND_OF = {TEXT: "text", BINARY: "binary"}
OPCODE_OF = {"text": TEXT, "binary": BINARY}
KiB = 1024
MiB = 1024 * 1024
READ_CHUNK = 256 * KiB


class Fail(Exception):
    """The case failed; str(self) says why."""


# --------------------------------------------------------------------------- wire helpers

def accept_key(key):
    """Sec-WebSocket-Accept for `key` (RFC 6455 §1.3)."""
    if isinstance(key, str):
        key = key.encode("latin-1")
    return base64.b64encode(hashlib.sha1(key + GUID).digest()).decode("ascii")


def apply_mask(data, key):
    n = len(data)
    if n == 0:
        return b""
    # Whole-buffer XOR through big integers: fast enough for 16 MiB in pure Python.
    pad = (key * ((n + 3) // 4))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(pad, "big")).to_bytes(n, "big")


def frame(opcode, payload=b"", fin=True, rsv=0, masked=True, key=None, length=None):
    """One frame as a client would send it. `length` overrides the declared payload length."""
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0xF)
    n = len(payload) if length is None else length
    mbit = 0x80 if masked else 0
    if n < 126:
        head = bytes([b0, mbit | n])
    elif n < 65536:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if not masked:
        return head + payload
    if key is None:
        key = os.urandom(4)
    return head + key + apply_mask(payload, key)


def close_payload(code=None, reason=b""):
    if code is None:
        return b""
    if isinstance(reason, str):
        reason = reason.encode("utf-8")
    return struct.pack("!H", code) + reason


def text_payload(n):
    pattern = b"The quick brown fox jumps over the lazy dog, 0123456789. "
    return (pattern * (n // len(pattern) + 1))[:n]


def binary_payload(n):
    return os.urandom(n)


def show(data, limit=32):
    data = bytes(data)
    if len(data) <= limit:
        return repr(data)
    return "%r... (%d bytes)" % (data[:limit], len(data))


def diff(got, want):
    if len(got) != len(want):
        return "got %d bytes, expected %d" % (len(got), len(want))
    for i, (a, b) in enumerate(zip(got, want)):
        if a != b:
            return "%d bytes as expected but they differ first at offset %d" % (len(got), i)
    return "identical"


def server_may_send(code):
    # RFC 6455 §7.4 and the IANA registry: codes a peer may put on the wire.
    return code in (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014) \
        or 3000 <= code <= 4999


# --------------------------------------------------------------------------- connection

class Response:
    def __init__(self, status, reason, headers):
        self.status = status
        self.reason = reason
        self.headers = headers  # lower-case name -> [values]

    def header(self, name):
        values = self.headers.get(name.lower())
        return None if values is None else ", ".join(values)

    def __str__(self):
        return "%d %s" % (self.status, self.reason)


class Conn:
    """A non-blocking client socket with a byte buffer, a frame reader and expectations.

    Reads and writes are interleaved (select), so a large echo never deadlocks on full
    socket buffers, and every wait is bounded by the case deadline.
    """

    def __init__(self, suite):
        self.suite = suite
        self.rbuf = bytearray()
        self.eof = False
        self.reset = False
        self.write_error = None
        self.frag_kind = None
        self.frag_parts = []
        self.close_frame = None
        try:
            raw = socket.create_connection((suite.host, suite.port),
                                           timeout=max(0.1, suite.remaining()))
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if suite.ssl_ctx is not None:
                raw = suite.ssl_ctx.wrap_socket(raw, server_hostname=suite.sni)
        except (OSError, ssl.SSLError) as e:
            raise Fail("cannot connect to %s:%d: %s" % (suite.host, suite.port, e))
        raw.setblocking(False)
        self.sock = raw
        self.is_ssl = isinstance(raw, ssl.SSLSocket)
        suite.open_conns.append(self)

    # ---- low level I/O

    def remaining(self, what):
        left = self.suite.deadline - time.monotonic()
        if left <= 0:
            raise Fail("timed out waiting for %s" % what)
        return left

    def _read_some(self):
        """Read what is available now. Returns True if bytes or EOF were seen."""
        progress = False
        while not self.eof:
            try:
                chunk = self.sock.recv(READ_CHUNK)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError, InterruptedError):
                break
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                self.eof = True
                return True
            except (ssl.SSLError, OSError):
                self.eof = True
                self.reset = True
                return True
            if not chunk:
                self.eof = True
                return True
            self.rbuf += chunk
            progress = True
            if not self.is_ssl and len(chunk) < READ_CHUNK:
                break
        return progress

    def _wait(self, what, want_write=False):
        left = self.remaining(what)
        rl = [] if self.eof else [self.sock]
        wl = [self.sock] if want_write else []
        if not rl and not wl:
            return
        try:
            select.select(rl, wl, [], min(left, 0.2))
        except (OSError, ValueError):
            pass

    def send_raw(self, data, chunk=64 * KiB, pause=0.0, what="the server to read",
                 stop_on_input=False):
        """Write `data` in writes of at most `chunk` bytes, reading meanwhile.

        Returns False if the server closed or reset the connection before all was written,
        or, with `stop_on_input`, as soon as the server sends anything (as a client would
        stop sending a message the server has already refused).
        """
        view = memoryview(bytes(data))
        pos = 0
        while pos < len(view):
            if self.write_error is not None or (stop_on_input and (self.rbuf or self.eof)):
                return False
            piece = view[pos:pos + chunk]
            try:
                n = self.sock.send(piece)
            except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError, InterruptedError):
                n = 0
            except (ssl.SSLError, OSError) as e:
                self.write_error = e
                return False
            pos += n
            self._read_some()
            if n == 0:
                self._wait(what, want_write=True)
            elif pause and pos < len(view):
                time.sleep(pause)
        return True

    def send_frame(self, *args, **kwargs):
        return self.send_raw(frame(*args, **kwargs))

    def fill(self, n, what):
        """Buffer at least n bytes; False if the connection ended first."""
        while len(self.rbuf) < n:
            if self.eof:
                return False
            if not self._read_some():
                self._wait(what)
        return True

    def read_until(self, marker, limit, what):
        start = 0
        while True:
            idx = self.rbuf.find(marker, start)
            if idx >= 0:
                return idx
            if len(self.rbuf) > limit:
                raise Fail("no %r within %d bytes while reading %s" % (marker, limit, what))
            start = max(0, len(self.rbuf) - len(marker) + 1)
            if self.eof:
                return -1
            if not self._read_some():
                self._wait(what)

    def wait_eof(self, what):
        while not self.eof:
            if not self._read_some():
                self._wait(what)
        return True

    def abort(self):
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.shut()

    def shut(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # ---- HTTP

    def read_response(self):
        idx = self.read_until(b"\r\n\r\n", 64 * KiB, "the HTTP response")
        if idx < 0:
            got = " (got %s)" % show(self.rbuf, 60) if self.rbuf else ""
            how = "reset" if self.reset else "closed"
            raise Fail("connection %s before a complete HTTP response%s" % (how, got))
        head = bytes(self.rbuf[:idx]).decode("latin-1")
        del self.rbuf[:idx + 4]
        lines = head.split("\r\n")
        m = re.match(r"HTTP/1\.[01] (\d{3})(?: (.*))?$", lines[0])
        if not m:
            raise Fail("bad HTTP status line %r" % lines[0])
        headers = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise Fail("bad HTTP header line %r" % line)
            headers.setdefault(name.strip().lower(), []).append(value.strip())
        return Response(int(m.group(1)), m.group(2) or "", headers)

    def request(self, raw, chunk=64 * KiB, pause=0.0):
        self.send_raw(raw, chunk=chunk, pause=pause)
        return self.read_response()

    def handshake(self, path=None, key=None, headers=None, chunk=64 * KiB, pause=0.0,
                  extra_bytes=b""):
        key = key or base64.b64encode(os.urandom(16)).decode("ascii")
        req = self.suite.upgrade_request(path=path, key=key, headers=headers)
        resp = self.request(req + extra_bytes, chunk=chunk, pause=pause)
        check_101(resp, key)
        return resp

    # ---- frames and events

    def read_frame(self, what):
        """Next server frame as (fin, rsv, opcode, payload), or None at a clean end of stream."""
        if not self.fill(2, what):
            if self.rbuf:
                raise Fail("connection ended inside a frame header")
            return None
        b0, b1 = self.rbuf[0], self.rbuf[1]
        n = b1 & 0x7F
        off = 2
        if n == 126:
            if not self.fill(4, what):
                raise Fail("connection ended inside a frame header")
            n = struct.unpack_from("!H", self.rbuf, 2)[0]
            off = 4
            if n < 126:
                raise Fail("server used a 16-bit length for a %d-byte payload (RFC 6455 §5.2: minimal length)" % n)
        elif n == 127:
            if not self.fill(10, what):
                raise Fail("connection ended inside a frame header")
            n = struct.unpack_from("!Q", self.rbuf, 2)[0]
            off = 10
            if n >> 63:
                raise Fail("server sent a 64-bit length with the top bit set")
            if n < 65536:
                raise Fail("server used a 64-bit length for a %d-byte payload (RFC 6455 §5.2: minimal length)" % n)
        if b1 & 0x80:
            raise Fail("server sent a masked frame (RFC 6455 §5.1: server frames are never masked)")
        if not self.fill(off + n, what):
            raise Fail("connection ended inside a %d-byte frame payload" % n)
        payload = bytes(self.rbuf[off:off + n])
        del self.rbuf[:off + n]
        fin, rsv, opcode = bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0xF
        if rsv:
            raise Fail("server frame has RSV bits %d set without a negotiated extension" % rsv)
        if opcode not in (CONT, TEXT, BINARY, CLOSE, PING, PONG):
            raise Fail("server sent reserved opcode %d" % opcode)
        if opcode >= 8 and (not fin or n > 125):
            raise Fail("server sent an invalid control frame (fin=%s, %d bytes)" % (fin, n))
        return fin, rsv, opcode, payload

    def next_event(self, what="a frame"):
        """("text"|"binary", data) | ("pong", data) | ("close", code, reason) | ("eof",)

        Messages are reassembled from server fragments; server pings are answered.
        """
        while True:
            f = self.read_frame(what)
            if f is None:
                return ("eof",)
            fin, _, opcode, payload = f
            if self.close_frame is not None:
                raise Fail("server sent a frame (opcode %d) after its close frame" % opcode)
            if opcode in (TEXT, BINARY):
                if self.frag_kind is not None:
                    raise Fail("server began a new message inside a fragmented one")
                if fin:
                    return (KIND_OF[opcode], payload)
                self.frag_kind, self.frag_parts = KIND_OF[opcode], [payload]
            elif opcode == CONT:
                if self.frag_kind is None:
                    raise Fail("server sent a continuation frame outside a message")
                self.frag_parts.append(payload)
                if fin:
                    kind, data = self.frag_kind, b"".join(self.frag_parts)
                    self.frag_kind, self.frag_parts = None, []
                    return (kind, data)
            elif opcode == PING:
                self.send_frame(PONG, payload)
            elif opcode == PONG:
                return ("pong", payload)
            else:
                if len(payload) == 1:
                    raise Fail("server close frame has a 1-byte payload")
                code = struct.unpack("!H", payload[:2])[0] if payload else None
                try:
                    reason = payload[2:].decode("utf-8")
                except UnicodeDecodeError:
                    raise Fail("server close reason is not valid UTF-8: %s" % show(payload[2:]))
                if code is not None and not server_may_send(code):
                    raise Fail("server sent close code %d, which must not be sent on the wire" % code)
                self.close_frame = (code, reason)
                return ("close", code, reason)

    def expect_message(self, kind, data, what=None):
        what = what or "the echo of a %d-byte %s message" % (len(data), kind)
        ev = self.next_event(what)
        if ev[0] != kind or ev[1] != data:
            raise Fail("expected %s, got %s" % (what, describe(ev, kind, data)))

    def expect_pong(self, data):
        ev = self.next_event("a pong")
        if ev != ("pong", data):
            raise Fail("expected a pong with %s, got %s" % (show(data), describe(ev)))

    def expect_pongs_then(self, pings, kind=None, data=None):
        """Pongs for `pings` in order, then (optionally) the message (kind, data).

        RFC 6455 §5.5.3 lets a server answer only the most recent of several pending pings,
        so earlier pongs may be missing, but the last one must arrive, in order, before the
        message that was sent after it.
        """
        idx = 0
        while True:
            ev = self.next_event("pongs")
            if ev[0] == "pong":
                try:
                    idx = pings.index(ev[1], idx) + 1
                except ValueError:
                    raise Fail("unexpected or out-of-order pong %s" % show(ev[1]))
                if kind is None and idx == len(pings):
                    return
            elif kind is not None and ev[0] == kind and ev[1] == data:
                if idx != len(pings):
                    raise Fail("the message arrived before the pong for the last ping")
                return
            else:
                raise Fail("expected pongs, got %s" % describe(ev, kind, data))

    def expect_close(self, codes, before=(), note="", reply=True, optional_before=False):
        """The server's close frame with a code in `codes` (None = empty payload), preceded
        by exactly the events `before` (or by none of them, if `optional_before`); then the
        server closes TCP (after our reply, unless we sent the first close ourselves:
        `reply=False`)."""
        if isinstance(codes, int) or codes is None:
            codes = (codes,)
        want = " or ".join("no status code" if c is None else str(c) for c in codes)
        ev = None
        for i, exp in enumerate(before):
            ev = self.next_event("%s before the close" % exp[0])
            if optional_before and ev[0] == "close" and i == 0:
                break  # the server took the close first; RFC 6455 leaves this open
            if ev[0] == "close" or ev[0] == "eof" or ev[:2] != exp[:2]:
                raise Fail("expected %s before the close, got %s" % (describe(exp), describe(ev)))
            ev = None
        if ev is None:
            ev = self.next_event("a close frame with %s%s" % (want, note))
        if ev[0] == "eof":
            how = "reset" if self.reset else "closed"
            raise Fail("connection %s without a close frame (expected %s)" % (how, want))
        if ev[0] != "close":
            raise Fail("expected a close frame with %s, got %s" % (want, describe(ev)))
        code = ev[1]
        if code not in codes:
            raise Fail("close code %s, expected %s" % ("(none)" if code is None else code, want))
        # Our reply completes the closing handshake; the server then closes TCP (§7.1.1).
        if reply:
            self.send_frame(CLOSE, close_payload(code))
        self.wait_server_eof()
        return code

    def wait_server_eof(self):
        try:
            self.wait_eof("the server to close the TCP connection after the close handshake")
        except Fail:
            raise
        if self.rbuf:
            raise Fail("bytes after the server's close frame: %s" % show(self.rbuf))

    def close_normally(self, code=1000, reason=b""):
        self.send_frame(CLOSE, close_payload(code, reason))
        return self.expect_close(code, reply=False)


def describe(ev, kind=None, data=None):
    if ev[0] in ("text", "binary", "pong"):
        s = "%s %s" % (ev[0], show(ev[1]))
        if kind == ev[0] and data is not None:
            s += " (%s)" % diff(ev[1], data)
        return s
    if ev[0] == "close":
        return "close frame with code %s%s" % (ev[1], " reason %r" % ev[2] if ev[2] else "")
    if ev[0] == "eof":
        return "end of stream"
    return repr(ev)


def check_101(resp, key, offered_extensions=False, offered_protocols=()):
    if resp.status != 101:
        raise Fail("handshake answered %s, expected 101" % resp)
    upgrade = resp.header("upgrade")
    if upgrade is None or upgrade.lower() != "websocket":
        raise Fail("101 response has Upgrade: %r" % upgrade)
    conn = resp.header("connection") or ""
    if "upgrade" not in [t.strip().lower() for t in conn.split(",")]:
        raise Fail("101 response has Connection: %r" % conn)
    got = resp.header("sec-websocket-accept")
    if got != accept_key(key):
        raise Fail("Sec-WebSocket-Accept %r, expected %r" % (got, accept_key(key)))
    if resp.header("sec-websocket-extensions") and not offered_extensions:
        raise Fail("server accepted an extension nobody offered: %r" % resp.header("sec-websocket-extensions"))
    proto = resp.header("sec-websocket-protocol")
    if proto is not None and proto not in offered_protocols:
        raise Fail("server selected subprotocol %r, not one that was offered" % proto)


# --------------------------------------------------------------------------- suite

class Suite:
    def __init__(self, args):
        self.host = args.host
        self.port = args.port
        self.path = args.path
        self.max_message = args.max_message
        self.case_timeout = args.timeout
        self.sni = args.sni or args.host
        self.ssl_ctx = None
        if args.tls:
            if args.ca:
                self.ssl_ctx = ssl.create_default_context(cafile=args.ca)
            else:
                self.ssl_ctx = ssl.create_default_context()
                self.ssl_ctx.check_hostname = False
                self.ssl_ctx.verify_mode = ssl.CERT_NONE
        self.deadline = 0.0
        self.open_conns = []

    def remaining(self):
        return max(0.0, self.deadline - time.monotonic())

    def raw(self):
        """A connection with no handshake yet."""
        return Conn(self)

    def connect(self, path=None):
        c = Conn(self)
        c.handshake(path=path)
        return c

    def upgrade_request(self, path=None, key=None, method="GET", version="HTTP/1.1", headers=None):
        """A client handshake. `headers` maps names to replace (None drops the header) and
        adds new ones; a list of (name, value) pairs replaces the whole header block."""
        if isinstance(headers, list):
            block = headers
        else:
            block = [("Host", "%s:%d" % (self.host, self.port)),
                     ("Upgrade", "websocket"),
                     ("Connection", "Upgrade"),
                     ("Sec-WebSocket-Key", key or base64.b64encode(os.urandom(16)).decode()),
                     ("Sec-WebSocket-Version", "13")]
            for name, value in (headers or {}).items():
                block = [(n, v) for n, v in block if n.lower() != name.lower()]
                if value is not None:
                    block.append((name, value))
        head = "%s %s %s\r\n" % (method, path or self.path, version)
        head += "".join("%s: %s\r\n" % (n, v) for n, v in block)
        return (head + "\r\n").encode("latin-1")

    def close_all(self):
        for c in self.open_conns:
            c.shut()
        self.open_conns = []

    def health_check(self):
        """A fresh /echo connection still works."""
        self.deadline = time.monotonic() + 5.0
        try:
            c = self.connect()
            c.send_frame(TEXT, b"still alive?")
            c.expect_message("text", b"still alive?")
            c.close_normally()
        finally:
            self.close_all()


CASES = []


def case(cid, desc, timeout=None):
    def register(fn):
        CASES.append((cid, desc, fn, timeout))
        return fn
    return register


def add(cid, desc, fn, timeout=None):
    CASES.append((cid, desc, fn, timeout))


# ---- reusable case bodies

def echo_case(kind, payload, frames=None, chunk=64 * KiB, pause=0.0):
    def body(t):
        c = t.connect()
        c.send_raw(frames if frames is not None else frame(OPCODE_OF[kind], payload),
                   chunk=chunk, pause=pause)
        c.expect_message(kind, payload)
        c.close_normally()
    return body


def fail_case(data, code, before=(), note=""):
    def body(t):
        c = t.connect()
        c.send_raw(data)
        c.expect_close(code, before=before, note=note)
    return body


def close_case(data, code, before=(), optional_before=False):
    """Like fail_case, for data that holds the client's own close frame (so no reply)."""
    def body(t):
        c = t.connect()
        c.send_raw(data)
        c.expect_close(code, before=before, reply=False, optional_before=optional_before)
    return body


def fragments(kind, parts, rsv_on=None):
    out = b""
    for i, p in enumerate(parts):
        op = OPCODE_OF[kind] if i == 0 else CONT
        out += frame(op, p, fin=(i == len(parts) - 1), rsv=(1 if i == rsv_on else 0))
    return out


def define_cases(max_message):
    # ------------------------------------------------------------------ 1 framing
    sizes = [n for n in (0, 1, 125, 126, 127, 128, 65535, 65536, 65537, MiB, 16 * MiB - 64)
             if n < max_message] + [max_message]
    for group, kind in ((1, "text"), (2, "binary")):
        for i, n in enumerate(sizes, 1):
            label = "%s message of %d bytes echoed exactly" % (kind, n)
            if n == max_message:
                label += " (exactly --max-message)"
            gen = text_payload if kind == "text" else binary_payload
            timeout = 60 if n >= 4 * MiB else None

            def body(t, n=n, kind=kind, gen=gen):
                echo_case(kind, gen(n))(t)
            add("1.%d.%d" % (group, i), label, body, timeout)

    add("1.3.1", "20-byte text frame written 1 byte per TCP write",
        echo_case("text", b"Hello, byte by byte!", chunk=1, pause=0.001))
    p126 = binary_payload(126)
    add("1.3.2", "126-byte binary frame (16-bit length) written 1 byte per TCP write",
        echo_case("binary", p126, chunk=1, pause=0.0005))

    def split_64bit(t):
        payload = binary_payload(70000)
        data = frame(BINARY, payload)
        c = t.connect()
        c.send_raw(data[:14], chunk=1, pause=0.001)
        c.send_raw(data[14:], chunk=997)
        c.expect_message("binary", payload)
        c.close_normally()
    add("1.3.3", "70000-byte frame: header 1 byte per write, payload in 997-byte writes", split_64bit)

    def two_in_one(t):
        c = t.connect()
        c.send_raw(frame(TEXT, b"first") + frame(BINARY, b"\x00second\xff"))
        c.expect_message("text", b"first")
        c.expect_message("binary", b"\x00second\xff")
        c.close_normally()
    add("1.3.4", "two frames in one TCP write are echoed in order", two_in_one)

    def mixed_batch(t):
        msgs = []
        for i in range(20):
            n = (0, 1, 125, 126, 500, 65536)[i % 6]
            msgs.append(("text", text_payload(n)) if i % 2 == 0 else ("binary", binary_payload(n)))
        c = t.connect()
        c.send_raw(b"".join(frame(OPCODE_OF[k], d) for k, d in msgs))
        for k, d in msgs:
            c.expect_message(k, d)
        c.close_normally()
    add("1.3.5", "20 text/binary messages of mixed sizes in one write are echoed in order", mixed_batch)

    def zero_key(t):
        c = t.connect()
        c.send_raw(frame(TEXT, b"zero mask key", key=b"\0\0\0\0"))
        c.expect_message("text", b"zero mask key")
        c.close_normally()
    add("1.3.6", "a frame masked with the all-zero key is accepted", zero_key)

    # ------------------------------------------------------------------ 2 ping / pong
    def ping_case(payload, chunk=64 * KiB):
        def body(t):
            c = t.connect()
            c.send_raw(frame(PING, payload), chunk=chunk, pause=0.0005 if chunk == 1 else 0)
            c.expect_pong(payload)
            c.close_normally()
        return body

    add("2.1", "ping without payload gets a pong without payload", ping_case(b""))
    add("2.2", "ping with a small text payload is echoed in the pong", ping_case(b"Hello, world!"))
    add("2.3", "ping with binary payload (0xff..) is echoed in the pong",
        ping_case(bytes(255 - i for i in range(125))))
    add("2.4", "ping with 125-byte payload is echoed in the pong", ping_case(text_payload(125)))

    def all_lengths(t):
        c = t.connect()
        for n in range(126):
            payload = bytes((n + i) & 0xFF for i in range(n))
            c.send_frame(PING, payload)
            c.expect_pong(payload)
        c.close_normally()
    add("2.5", "pings with every payload length 0..125 are each answered", all_lengths)
    add("2.6", "ping with a 126-byte payload fails with 1002", fail_case(frame(PING, text_payload(126)), 1002))
    add("2.7", "125-byte ping written 1 byte per TCP write is answered",
        ping_case(text_payload(125), chunk=1))

    def unsolicited(payload):
        def body(t):
            c = t.connect()
            c.send_raw(frame(PONG, payload) + frame(TEXT, b"after the pong"))
            c.expect_message("text", b"after the pong",
                             "the text echo (an unsolicited pong must be ignored)")
            c.close_normally()
        return body
    add("2.8", "unsolicited pong without payload is ignored", unsolicited(b""))
    add("2.9", "unsolicited pong with payload is ignored", unsolicited(b"unsolicited pong payload"))

    def pong_then_ping(t):
        c = t.connect()
        c.send_raw(frame(PONG, b"unsolicited") + frame(PING, b"solicited"))
        c.expect_pong(b"solicited")
        c.close_normally()
    add("2.10", "unsolicited pong then ping: only the ping is answered", pong_then_ping)

    def ten_pings(one_write):
        def body(t):
            pings = [("ping %d" % i).encode() for i in range(10)]
            c = t.connect()
            data = [frame(PING, p) for p in pings]
            if one_write:
                c.send_raw(b"".join(data))
            else:
                for d in data:
                    c.send_raw(d)
                    time.sleep(0.002)
            c.send_frame(TEXT, b"after the pings")
            c.expect_pongs_then(pings, "text", b"after the pings")
            c.close_normally()
        return body
    add("2.11", "10 pings in a row (separate writes) get their pongs in order", ten_pings(False))
    add("2.12", "10 pings in one write get their pongs in order", ten_pings(True))
    add("2.13", "fragmented ping (FIN=0) fails with 1002",
        fail_case(frame(PING, b"frag", fin=False) + frame(CONT, b"ment"), 1002))
    add("2.14", "ping with FIN=0 alone fails with 1002 without waiting for more",
        fail_case(frame(PING, b"no fin", fin=False), 1002))

    # ------------------------------------------------------------------ 3 reserved bits
    hello = b"Hello, world!"
    add("3.1", "text frame with RSV1 (no extension negotiated) fails with 1002",
        fail_case(frame(TEXT, hello, rsv=4), 1002))
    add("3.2", "text, then text with RSV2: first echoed, then 1002",
        fail_case(frame(TEXT, hello) + frame(TEXT, hello, rsv=2), 1002, before=[("text", hello)]))
    add("3.3", "text, RSV3 text, ping in one write: echo, then 1002 and no pong",
        fail_case(frame(TEXT, hello) + frame(TEXT, hello, rsv=1) + frame(PING, b"p"), 1002,
                  before=[("text", hello)]))
    add("3.4", "binary frame with RSV1+RSV2+RSV3 fails with 1002",
        fail_case(frame(BINARY, b"\x00\xff", rsv=7), 1002))
    add("3.5", "ping with RSV1+RSV3 fails with 1002", fail_case(frame(PING, b"p", rsv=5), 1002))
    add("3.6", "close with RSV2+RSV3 fails with 1002",
        fail_case(frame(CLOSE, close_payload(1000), rsv=6), 1002))
    add("3.7", "continuation frame with RSV1 fails with 1002",
        fail_case(fragments("text", [b"frag", b"ment"], rsv_on=1), 1002))
    add("3.8", "pong with RSV2 fails with 1002", fail_case(frame(PONG, b"", rsv=2), 1002))

    # ------------------------------------------------------------------ 4 opcodes
    for i, op in enumerate((3, 4, 5, 6, 7), 1):
        add("4.1.%d" % i, "reserved data opcode %d fails with 1002" % op,
            fail_case(frame(op, b""), 1002))
    add("4.1.6", "text, reserved opcode 4 with payload, ping: echo, then 1002 and no pong",
        fail_case(frame(TEXT, hello) + frame(4, b"reserved") + frame(PING, b"p"), 1002,
                  before=[("text", hello)]))
    for i, op in enumerate((11, 12, 13, 14, 15), 1):
        add("4.2.%d" % i, "reserved control opcode %d fails with 1002" % op,
            fail_case(frame(op, b""), 1002))
    add("4.2.6", "text, reserved opcode 13 with payload, ping: echo, then 1002 and no pong",
        fail_case(frame(TEXT, hello) + frame(13, b"reserved") + frame(PING, b"p"), 1002,
                  before=[("text", hello)]))
    add("4.3", "reserved opcode 3 inside a fragmented message fails with 1002",
        fail_case(frame(TEXT, b"frag", fin=False) + frame(3, b"x"), 1002))

    # ------------------------------------------------------------------ 5 fragmentation
    add("5.1", "continuation frame (FIN=1) with no message started fails with 1002",
        fail_case(frame(CONT, b"orphan"), 1002))
    add("5.2", "continuation frame (FIN=0) with no message started fails with 1002",
        fail_case(frame(CONT, b"orphan", fin=False), 1002))
    add("5.3", "text in 2 fragments is echoed as one message",
        echo_case("text", b"fragment1fragment2", frames=fragments("text", [b"fragment1", b"fragment2"])))
    bin2 = binary_payload(300)
    add("5.4", "binary in 2 fragments is echoed as one message",
        echo_case("binary", bin2, frames=fragments("binary", [bin2[:100], bin2[100:]])))

    def three_writes(t):
        c = t.connect()
        for i, part in enumerate((b"one ", b"two ", b"three")):
            c.send_raw(frame(TEXT if i == 0 else CONT, part, fin=(i == 2)))
            time.sleep(0.01)
        c.expect_message("text", b"one two three")
        c.close_normally()
    add("5.5", "text in 3 fragments sent in separate writes is reassembled", three_writes)

    def ping_between(t):
        c = t.connect()
        c.send_raw(frame(TEXT, b"frag", fin=False) + frame(PING, b"between") + frame(CONT, b"ment"))
        c.expect_pong(b"between")
        c.expect_message("text", b"fragment")
        c.close_normally()
    add("5.6", "ping between fragments (one write): pong, then the reassembled message", ping_between)

    def ping_midway(t):
        c = t.connect()
        c.send_raw(frame(TEXT, b"frag", fin=False) + frame(PING, b"midway"))
        c.expect_pong(b"midway")  # before the final fragment is even sent
        c.send_raw(frame(CONT, b"ment"))
        c.expect_message("text", b"fragment")
        c.close_normally()
    add("5.7", "ping inside an unfinished message is answered before the final fragment", ping_midway)

    one_byte = binary_payload(1000)
    add("5.8", "binary message in 1000 one-byte fragments is reassembled",
        echo_case("binary", one_byte, frames=fragments("binary", [one_byte[i:i + 1] for i in range(1000)])))
    add("5.9", "empty first, middle and last fragments around data are reassembled",
        echo_case("text", b"data", frames=fragments("text", [b"", b"", b"da", b"", b"ta", b""])))
    add("5.10", "text message of 3 empty fragments is echoed as an empty text message",
        echo_case("text", b"", frames=fragments("text", [b"", b"", b""])))
    add("5.11", "new text frame (FIN=1) inside a fragmented message fails with 1002",
        fail_case(frame(TEXT, b"frag", fin=False) + frame(TEXT, b"intruder"), 1002))
    add("5.12", "new binary frame (FIN=0) inside a fragmented text message fails with 1002",
        fail_case(frame(TEXT, b"frag", fin=False) + frame(BINARY, b"intruder", fin=False), 1002))
    add("5.13", "continuation after the final fragment: message echoed, then 1002",
        fail_case(fragments("text", [b"frag", b"ment"]) + frame(CONT, b"extra"), 1002,
                  before=[("text", b"fragment")]))

    def pong_between(t):
        c = t.connect()
        c.send_raw(frame(BINARY, b"\x01\x02", fin=False) + frame(PONG, b"unsolicited")
                   + frame(CONT, b"\x03"))
        c.expect_message("binary", b"\x01\x02\x03")
        c.close_normally()
    add("5.14", "unsolicited pong between fragments is ignored, message reassembled", pong_between)
    add("5.15", "close frame with FIN=0 fails with 1002",
        fail_case(frame(CLOSE, close_payload(1000), fin=False), 1002))

    def close_midway(t):
        c = t.connect()
        c.send_raw(frame(TEXT, b"unfinished", fin=False) + frame(CLOSE, close_payload(1000)))
        c.expect_close(1000, reply=False)
    add("5.16", "close inside an unfinished message: close echoed, partial message dropped", close_midway)

    def many_pings_fragments(t):
        pings = [("ping %d" % i).encode() for i in range(10)]
        data = b""
        for i in range(10):
            data += frame(PING, pings[i]) + frame(TEXT if i == 0 else CONT, b"%d" % i, fin=(i == 9))
        c = t.connect()
        c.send_raw(data)
        c.expect_pongs_then(pings, "text", b"0123456789")
        c.close_normally()
    add("5.17", "10 fragments each preceded by a ping: pongs, then the message", many_pings_fragments)

    # ------------------------------------------------------------------ 6 UTF-8
    valid = [
        ("ASCII", b"Hello, world!"),
        ("Latin-1 and symbols", "Hello-\u00b5@\u00df\u00f6\u00e4\u00fc\u00e0\u00e1-UTF-8!!".encode()),
        ("Greek kosme", "\u03ba\u1f79\u03c3\u03bc\u03b5".encode()),
        ("NUL and U+007F", b"a\x00b\x7fc"),
        ("U+0080 and U+07FF (2-byte bounds)", "\u0080\u07ff".encode()),
        ("U+0800 and U+FFFF (3-byte bounds)", "\u0800\uffff".encode()),
        ("U+D7FF and U+E000 (around the surrogates)", "\ud7ff\ue000".encode()),
        ("U+FFFD and U+FEFF", "\ufffd\ufeff".encode()),
        ("U+10000 and U+10FFFF (4-byte bounds)", "\U00010000\U0010ffff".encode()),
        ("emoji (4-byte sequences)", "\U0001f600\U0001f389 ok".encode()),
        ("CJK mixed with ASCII", "\u4f60\u597d, world \u3053\u3093\u306b\u3061\u306f".encode()),
    ]
    for i, (name, data) in enumerate(valid, 1):
        add("6.1.%d" % i, "valid UTF-8 text echoed: %s" % name, echo_case("text", data))

    kosme = "\u03ba\u1f79\u03c3\u03bc\u03b5".encode()
    emoji = "\U0001f600".encode()
    top = "\U0010ffff".encode()
    valid_split = [
        ("'kosme' one byte per fragment", [kosme[i:i + 1] for i in range(len(kosme))]),
        ("4-byte emoji split 1|3", [emoji[:1], emoji[1:]]),
        ("4-byte emoji split 2|2", [emoji[:2], emoji[2:]]),
        ("4-byte emoji split 3|1", [emoji[:3], emoji[3:]]),
        ("U+10FFFF in 4 fragments", [top[i:i + 1] for i in range(4)]),
        ("3-byte euro sign split 2|1 after ASCII", [b"price 10" + "\u20ac".encode()[:2], "\u20ac".encode()[2:]]),
    ]
    for i, (name, parts) in enumerate(valid_split, 1):
        add("6.2.%d" % i, "valid UTF-8 split across fragments reassembled: %s" % name,
            echo_case("text", b"".join(parts), frames=fragments("text", parts)))

    invalid = [
        ("lone continuation byte 0x80", b"\x80"),
        ("lone continuation byte 0xBF inside ASCII", b"ab\xbfcd"),
        ("0xFE", b"\xfe"),
        ("0xFF", b"\xff"),
        ("overlong NUL C0 80", b"\xc0\x80"),
        ("overlong C1 BF", b"\xc1\xbf"),
        ("overlong '/' E0 80 AF", b"\xe0\x80\xaf"),
        ("overlong U+07FF E0 9F BF", b"\xe0\x9f\xbf"),
        ("overlong '/' F0 80 80 AF", b"\xf0\x80\x80\xaf"),
        ("overlong U+FFFF F0 8F BF BF", b"\xf0\x8f\xbf\xbf"),
        ("surrogate U+D800", b"\xed\xa0\x80"),
        ("surrogate U+DB7F", b"\xed\xad\xbf"),
        ("surrogate U+DB80", b"\xed\xae\x80"),
        ("surrogate U+DBFF", b"\xed\xaf\xbf"),
        ("surrogate U+DC00", b"\xed\xb0\x80"),
        ("surrogate U+DFFF", b"\xed\xbf\xbf"),
        ("surrogate pair U+D800 U+DC00 (CESU-8)", b"\xed\xa0\x80\xed\xb0\x80"),
        ("U+110000 (F4 90 80 80)", b"\xf4\x90\x80\x80"),
        ("F5 lead byte", b"\xf5\x80\x80\x80"),
        ("F7 BF BF BF", b"\xf7\xbf\xbf\xbf"),
        ("5-byte sequence F8 88 80 80 80", b"\xf8\x88\x80\x80\x80"),
        ("6-byte sequence FC 84 80 80 80 80", b"\xfc\x84\x80\x80\x80\x80"),
        ("'kosme' then a surrogate (Autobahn 6.3.1)", kosme + b"\xed\xa0\x80edited"),
        ("2-byte lead followed by ASCII (C2 41)", b"\xc2\x41"),
        ("3-byte sequence with bad 2nd byte (E2 28 A1)", b"\xe2\x28\xa1"),
        ("truncated 2-byte at message end", b"kosme: " + kosme[:-1]),
        ("truncated 3-byte at message end (E2 82)", b"euro \xe2\x82"),
        ("truncated 4-byte at message end (F0 9F 98)", b"smile \xf0\x9f\x98"),
        ("lone 4-byte lead at message end", b"\xf0"),
    ]
    for i, (name, data) in enumerate(invalid, 1):
        add("6.3.%d" % i, "invalid UTF-8 text fails with 1007: %s" % name,
            fail_case(frame(TEXT, data), 1007))

    ff = " (fail fast: the rest of the message is never sent)"
    add("6.4.1", "first fragment already invalid (0xFF): 1007 before the message ends",
        fail_case(frame(TEXT, b"abc\xffdef", fin=False), 1007, note=ff))
    add("6.4.2", "valid first fragment, invalid 2nd (U+110000): 1007 before the final fragment",
        fail_case(frame(TEXT, kosme, fin=False) + frame(CONT, b"\xf4\x90\x80\x80", fin=False), 1007, note=ff))
    add("6.4.3", "'kosme' F4 | 90: 1007 as soon as the 2nd fragment makes it invalid",
        fail_case(frame(TEXT, kosme + b"\xf4", fin=False) + frame(CONT, b"\x90", fin=False), 1007, note=ff))
    add("6.4.4", "first fragment ends with C0 (never valid): 1007 before the message ends",
        fail_case(frame(TEXT, b"abc\xc0", fin=False), 1007, note=ff))
    add("6.4.5", "first fragment ends with ED A0 (surrogate prefix): 1007 before the message ends",
        fail_case(frame(TEXT, b"abc\xed\xa0", fin=False), 1007, note=ff))
    add("6.4.6", "first fragment contains a surrogate mid-fragment: 1007 before the message ends",
        fail_case(frame(TEXT, b"ab\xed\xb0\x80cd", fin=False), 1007, note=ff))

    invalid_split = [
        ("E2 82 | 28 (bad continuation after the boundary)", [b"ab\xe2\x82", b"\x28"]),
        ("F0 9F | 98 | (truncated at the end, empty final fragment)", [b"\xf0\x9f", b"\x98", b""]),
        ("ED | A0 80 (surrogate split)", [b"x\xed", b"\xa0\x80"]),
        ("E0 | 80 AF (overlong split)", [b"\xe0", b"\x80\xaf"]),
        ("valid fragments then a truncated sequence in the final one", [b"abc", kosme, b"\xce"]),
        ("F4 | 90 80 80 (above U+10FFFF split)", [b"\xf4", b"\x90\x80\x80"]),
    ]
    for i, (name, parts) in enumerate(invalid_split, 1):
        add("6.5.%d" % i, "invalid UTF-8 across fragments fails with 1007: %s" % name,
            fail_case(fragments("text", parts), 1007))

    add("6.6", "invalid UTF-8 in a binary message is echoed unchanged",
        echo_case("binary", b"\xff\xfe\xed\xa0\x80\xc0\x80"))

    # ------------------------------------------------------------------ 7 close
    def empty_close(t):
        c = t.connect()
        c.send_frame(CLOSE, b"")
        c.expect_close((None, 1000), reply=False)
    add("7.1.1", "close without payload is answered with a close (empty or 1000), then TCP close",
        empty_close)

    def close_reason(t):
        c = t.connect()
        c.send_frame(CLOSE, close_payload(1000, b"bye"))
        c.expect_close(1000, reply=False)
    add("7.1.2", "close 1000 with a reason is echoed with 1000, then the server closes TCP", close_reason)
    add("7.1.3", "text and ping after the close are ignored (no echo, no pong)",
        close_case(frame(CLOSE, close_payload(1000)) + frame(TEXT, b"late") + frame(PING, b"late"), 1000))
    add("7.1.4", "a second close frame is not answered again",
        close_case(frame(CLOSE, close_payload(1000)) + frame(CLOSE, close_payload(1001)), 1000))
    # Like Autobahn 7.1.5/7.1.6, whether the echo still goes out once the close is read is the
    # server's choice; if it does, it must be whole and come before the close.
    add("7.1.5", "text then close in one write: whole echo (or none), then close",
        close_case(frame(TEXT, hello) + frame(CLOSE, close_payload(1000)), 1000,
                   before=[("text", hello)], optional_before=True))
    big_text = text_payload(min(256 * KiB, max_message))
    add("7.1.6", "%d-byte text, close, ping in one write: whole echo (or none), close, no pong" % len(big_text),
        close_case(frame(TEXT, big_text) + frame(CLOSE, close_payload(1000)) + frame(PING, b"p"),
                   1000, before=[("text", big_text)], optional_before=True))

    def close_then_wait(t):
        c = t.connect()
        c.send_frame(CLOSE, close_payload(1000))
        ev = c.next_event("the close echo")
        if ev[0] != "close" or ev[1] != 1000:
            raise Fail("expected close 1000, got %s" % describe(ev))
        # Do not answer anything more: the server, having both closes, must drop TCP (§7.1.1).
        c.wait_server_eof()
    add("7.1.7", "after echoing a client-initiated close the server closes TCP first", close_then_wait)

    add("7.3.1", "close with a 1-byte payload fails with 1002", close_case(frame(CLOSE, b"\x03"), 1002))
    add("7.3.2", "close 1000 with a 123-byte reason (125-byte payload) is echoed",
        close_case(frame(CLOSE, close_payload(1000, b"r" * 123)), 1000))
    add("7.3.3", "close with a 126-byte payload fails with 1002",
        close_case(frame(CLOSE, close_payload(1000, b"r" * 124)), 1002))
    add("7.3.4", "close 1000 with a multi-byte UTF-8 reason is echoed",
        close_case(frame(CLOSE, close_payload(1000, kosme + emoji)), 1000))
    add("7.3.5", "close reason with invalid UTF-8 (surrogate) fails with 1007",
        close_case(frame(CLOSE, close_payload(1000, kosme + b"\xed\xa0\x80")), 1007))
    add("7.3.6", "close reason with truncated UTF-8 fails with 1007",
        close_case(frame(CLOSE, close_payload(1000, b"bye \xce")), 1007))

    for i, code in enumerate((1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011,
                              3000, 3999, 4000, 4999), 1):
        add("7.5.%d" % i, "valid close code %d is echoed" % code,
            close_case(frame(CLOSE, close_payload(code, b"code %d" % code)), code))
    # The project's rule: 1000-1003, 1007-1011 and 3000-4999 are valid; all else is 1002.
    for i, code in enumerate((0, 999, 1004, 1005, 1006, 1012, 1013, 1014, 1015, 1016,
                              1100, 2000, 2999, 5000, 65535), 1):
        add("7.9.%d" % i, "invalid close code %d fails with 1002" % code,
            close_case(frame(CLOSE, close_payload(code)), 1002))

    # ------------------------------------------------------------------ 9 limits, pipelining
    over = max_message + 1

    def over_limit(kind, fragment_size=None):
        def body(t):
            payload = (text_payload if kind == "text" else binary_payload)(over)
            if fragment_size:
                parts = [payload[i:i + fragment_size] for i in range(0, over, fragment_size)]
                data = fragments(kind, parts)
            else:
                data = frame(OPCODE_OF[kind], payload)
            c = t.connect()
            c.send_raw(data, stop_on_input=True)  # the server may refuse it midway
            c.expect_close(1009)
        return body
    add("9.1.1", "text message of --max-message + 1 (%d) bytes fails with 1009" % over,
        over_limit("text"), 60)
    add("9.1.2", "binary message of --max-message + 1 bytes fails with 1009", over_limit("binary"), 60)
    add("9.1.3", "fragmented message growing past --max-message (64 KiB fragments) fails with 1009",
        over_limit("binary", 64 * KiB), 60)

    def header_only(t):
        c = t.connect()
        head = frame(BINARY, b"", length=over, key=b"\1\2\3\4")
        c.send_raw(head + b"\0" * 16)
        c.expect_close(1009, note=" (the payload is never sent: decide from the header)")
    add("9.1.4", "frame header declaring --max-message + 1 bytes fails with 1009 before the payload",
        header_only)

    frag_size = min(MiB, max_message)

    def big_fragmented(t):
        payload = binary_payload(frag_size)
        parts = [payload[i:i + 64 * KiB] for i in range(0, frag_size, 64 * KiB)]
        c = t.connect()
        c.send_raw(fragments("binary", parts))
        c.expect_message("binary", payload)
        c.close_normally()
    add("9.2.1", "%d-byte binary message in 64 KiB fragments is echoed" % frag_size, big_fragmented, 60)

    def pipelined(kind, count):
        def body(t):
            msgs = [(b"message %04d " % i) + (text_payload if kind == "text" else binary_payload)(i % 50)
                    for i in range(count)]
            c = t.connect()
            c.send_raw(b"".join(frame(OPCODE_OF[kind], m) for m in msgs))
            for m in msgs:
                c.expect_message(kind, m)
            c.close_normally()
        return body
    add("9.3.1", "1000 small text messages pipelined in one write are echoed in order", pipelined("text", 1000))
    add("9.3.2", "1000 small binary messages pipelined in one write are echoed in order", pipelined("binary", 1000))

    def pipelined_pings(t):
        pings = [b"ping %03d" % i for i in range(100)]
        c = t.connect()
        c.send_raw(b"".join(frame(PING, p) for p in pings) + frame(TEXT, b"done"))
        c.expect_pongs_then(pings, "text", b"done")
        c.close_normally()
    add("9.3.3", "100 pings pipelined in one write are answered in order", pipelined_pings)

    def many_conns(t):
        conns = [t.connect() for _ in range(50)]
        for i, c in enumerate(conns):
            c.send_frame(TEXT, b"connection %d" % i)
        for i, c in enumerate(conns):
            c.expect_message("text", b"connection %d" % i)
        for c in conns:
            c.close_normally()
    add("9.3.4", "50 concurrent connections each get their own echo", many_conns, 20)

    # ------------------------------------------------------------------ 10 masking, handshake, HTTP
    add("10.1.1", "unmasked text frame from the client fails with 1002",
        fail_case(frame(TEXT, b"not masked", masked=False), 1002))
    add("10.1.2", "unmasked close frame from the client fails with 1002",
        fail_case(frame(CLOSE, close_payload(1000), masked=False), 1002))
    add("10.1.3", "64-bit payload length with the top bit set fails with 1002",
        fail_case(frame(BINARY, b"", length=(1 << 63) | 5, key=b"\1\2\3\4") + b"\0" * 5, 1002))

    def unmasked_server(t):
        c = t.connect()
        c.send_raw(frame(TEXT, b"check") + frame(PING, b"check"))
        # read_frame rejects masked / RSV server frames; echo and pong may come in either order.
        got = sorted([c.next_event("the echo and the pong")[:2] for _ in range(2)])
        if got != [("pong", b"check"), ("text", b"check")]:
            raise Fail("expected a text echo and a pong, got %s" % ", ".join(describe(e) for e in got))
        c.close_normally()
    add("10.1.4", "the server's data, pong and close frames are unmasked with RSV=0", unmasked_server)

    def accept_case(key):
        def body(t):
            c = t.raw()
            resp = c.request(t.upgrade_request(key=key))
            check_101(resp, key)
            c.send_frame(TEXT, b"ok")
            c.expect_message("text", b"ok")
            c.close_normally()
        return body
    if accept_key("dGhlIHNhbXBsZSBub25jZQ==") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=":
        raise AssertionError("accept_key is wrong")
    add("10.2.1", "RFC 6455 §1.3 sample key gets s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
        accept_case("dGhlIHNhbXBsZSBub25jZQ=="))
    add("10.2.2", "random key: 101 with Upgrade, Connection and the right Sec-WebSocket-Accept",
        accept_case(base64.b64encode(os.urandom(16)).decode()))

    def variant_ok(headers=None, block=None, chunk=64 * KiB, offered_extensions=False,
                   protocols=(), extra=b""):
        def body(t):
            key = base64.b64encode(os.urandom(16)).decode()
            hdrs = block(t, key) if block else dict(headers or {})
            c = t.raw()
            resp = c.request(t.upgrade_request(key=key, headers=hdrs) + extra, chunk=chunk,
                             pause=0.0005 if chunk == 1 else 0)
            check_101(resp, key, offered_extensions, protocols)
            if extra:
                c.expect_message("text", b"early", "the echo of a frame sent with the handshake")
            c.send_frame(TEXT, b"ok")
            c.expect_message("text", b"ok")
            c.close_normally()
        return body
    add("10.2.3", "'Connection: keep-alive, Upgrade' token list is accepted",
        variant_ok({"Connection": "keep-alive, Upgrade"}))
    add("10.2.4", "odd-case header names and values are accepted",
        variant_ok(block=lambda t, key: [
            ("hOST", "%s:%d" % (t.host, t.port)), ("UPGRADE", "WebSocket"),
            ("connection", "UPGRADE"), ("sec-websocket-KEY", key), ("SEC-WEBSOCKET-VERSION", "13")]))
    add("10.2.5", "handshake written 1 byte per TCP write is accepted", variant_ok(chunk=1))
    add("10.2.6", "a frame sent in the same write as the handshake is echoed",
        variant_ok(extra=frame(TEXT, b"early")))
    add("10.2.7", "an unknown extension offer is not accepted and the connection works",
        variant_ok({"Sec-WebSocket-Extensions": "x-rtmsg-unknown; foo=1"}))
    add("10.2.8", "a subprotocol offer: none or one of the offered is selected",
        variant_ok({"Sec-WebSocket-Protocol": "chat, superchat"}, protocols=("chat", "superchat")))

    def refused(statuses, headers=None, method="GET", version="HTTP/1.1", path=None, why="",
                need_version_header=False, block=None):
        def body(t):
            hdrs = block(t) if block else headers
            c = t.raw()
            resp = c.request(t.upgrade_request(path=path, method=method, version=version, headers=hdrs))
            if resp.status not in statuses:
                raise Fail("answered %s, expected %s%s" % (resp, " or ".join(map(str, statuses)), why))
            if need_version_header:
                # RFC 6455 §4.2.2: a version mismatch names the versions the server speaks.
                v = resp.header("sec-websocket-version")
                if v is None or "13" not in [s.strip() for s in v.split(",")]:
                    raise Fail("%d response must carry Sec-WebSocket-Version: 13 (got %r)" % (resp.status, v))
            elif resp.status == 426:
                # RFC 9110 §15.5.22: a 426 response must say what to upgrade to.
                u = resp.header("upgrade")
                if u is None or "websocket" not in u.lower():
                    raise Fail("426 response must carry Upgrade: websocket (got %r)" % u)
        return body
    add("10.2.9", "missing Sec-WebSocket-Key gets 400", refused((400,), {"Sec-WebSocket-Key": None}))
    add("10.2.10", "Sec-WebSocket-Key 'abc' (not 16 bytes) gets 400", refused((400,), {"Sec-WebSocket-Key": "abc"}))
    add("10.2.11", "Sec-WebSocket-Key of 15 base64 bytes gets 400",
        refused((400,), {"Sec-WebSocket-Key": base64.b64encode(b"x" * 15).decode()}))
    add("10.2.12", "Sec-WebSocket-Key of 17 base64 bytes gets 400",
        refused((400,), {"Sec-WebSocket-Key": base64.b64encode(b"x" * 17).decode()}))
    add("10.2.13", "Sec-WebSocket-Key with non-base64 characters gets 400",
        refused((400,), {"Sec-WebSocket-Key": "!!!!!!!!!!!!!!!!!!!!!!=="}))
    add("10.2.14", "Sec-WebSocket-Version: 8 gets 426 with Sec-WebSocket-Version: 13",
        refused((426,), {"Sec-WebSocket-Version": "8"}, need_version_header=True))
    add("10.2.15", "missing Sec-WebSocket-Version gets 400 or 426",
        refused((400, 426), {"Sec-WebSocket-Version": None}))
    add("10.2.16", "missing Upgrade header gets 400 or 426", refused((400, 426), {"Upgrade": None}))
    add("10.2.17", "Upgrade: h2c gets 400 or 426", refused((400, 426), {"Upgrade": "h2c"}))
    add("10.2.18", "missing Connection header gets 400 or 426", refused((400, 426), {"Connection": None}))
    add("10.2.19", "POST to the WebSocket path gets 405 or 400", refused((405, 400), method="POST"))
    add("10.2.20", "missing Host header gets 400 (RFC 6455 §4.2.1)", refused((400,), {"Host": None}))
    add("10.2.21", "HTTP/1.0 upgrade request is refused (400, 426 or 505)",
        refused((400, 426, 505), version="HTTP/1.0"))
    add("10.2.22", "two Sec-WebSocket-Key headers get 400 (RFC 6455 §11.3.1)",
        refused((400,), block=lambda t: [
            ("Host", "%s:%d" % (t.host, t.port)), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", base64.b64encode(os.urandom(16)).decode()),
            ("Sec-WebSocket-Key", base64.b64encode(os.urandom(16)).decode()),
            ("Sec-WebSocket-Version", "13")]))

    def http_case(raw, statuses, chunk=64 * KiB):
        def body(t):
            data = raw(t) if callable(raw) else raw
            c = t.raw()
            resp = c.request(data, chunk=chunk)
            if resp.status not in statuses:
                raise Fail("answered %s, expected %s" % (resp, " or ".join(map(str, statuses))))
        return body

    def host(t):
        return "Host: %s:%d\r\n" % (t.host, t.port)
    add("10.3.1", "GET of an unknown path gets 404",
        http_case(lambda t: ("GET /no/such/path HTTP/1.1\r\n%s\r\n" % host(t)).encode(), (404,)))
    add("10.3.2", "WebSocket upgrade on an unknown path gets 404",
        refused((404,), path="/no/such/path"))
    add("10.3.3", "a single 20 KiB header (over 16 KiB) gets 431",
        http_case(lambda t: ("GET %s HTTP/1.1\r\n%sX-Big: %s\r\n\r\n" % (t.path, host(t), "a" * 20480)).encode(),
                  (431,)))
    add("10.3.4", "400 headers totalling over 16 KiB get 431",
        http_case(lambda t: ("GET %s HTTP/1.1\r\n%s%s\r\n" % (
            t.path, host(t), "".join("X-Header-%03d: %s\r\n" % (i, "v" * 40) for i in range(400)))).encode(),
                  (431,)))
    add("10.3.5", "garbage request line gets 400", http_case(b"HELLO THERE\r\n\r\n", (400,)))
    add("10.3.6", "binary garbage gets 400",
        http_case(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\xff\x00\r\n\r\n", (400,)))
    add("10.3.7", "request line without an HTTP version gets 400",
        http_case(lambda t: ("GET %s\r\n%s\r\n" % (t.path, host(t))).encode(), (400,)))
    add("10.3.8", "header line without a colon gets 400",
        http_case(lambda t: ("GET %s HTTP/1.1\r\n%sThis is not a header\r\n\r\n" % (t.path, host(t))).encode(),
                  (400,)))
    add("10.3.9", "plain GET of the WebSocket path (no upgrade) gets 400 or 426",
        http_case(lambda t: ("GET %s HTTP/1.1\r\n%s\r\n" % (t.path, host(t))).encode(), (400, 426)))

    def silent_client(t):
        c = t.raw()
        time.sleep(0.05)
        c.shut()
    add("10.3.10", "a client that connects and says nothing, then leaves", silent_client)

    def half_request(t):
        c = t.raw()
        c.send_raw(("GET %s HTTP/1.1\r\nHost: x\r\nUpgr" % t.path).encode())
        time.sleep(0.05)
        c.shut()
    add("10.3.11", "a client that leaves in the middle of its request", half_request)

    def half_frame(t):
        c = t.connect()
        c.send_raw(frame(BINARY, binary_payload(1000))[:500])
        time.sleep(0.05)
        c.shut()
    add("10.3.12", "a client that leaves in the middle of a frame", half_frame)

    def reset_client(t):
        c = t.connect()
        c.send_raw(frame(TEXT, b"x" * 100000))
        c.abort()
    add("10.3.13", "a client that resets the connection (RST) while its echo is being sent", reset_client)


# --------------------------------------------------------------------------- main

def selected(cid, desc, patterns):
    if not patterns:
        return True
    for p in patterns:
        if re.fullmatch(r"[0-9]+(\.[0-9]+)*\.?", p):  # a case id or group: 5, 6.4, 6.4.1
            p = p.rstrip(".")
            if cid == p or cid.startswith(p + "."):
                return True
        elif re.search(p, "%s %s" % (cid, desc)):
            return True
    return False


def expect_shutdown(suite, count):
    """Hold `count` open /echo connections, print `ready`, then expect a 1001 close frame on
    each and the end of TCP when the server is stopped (SIGTERM) by whoever runs this."""
    suite.deadline = time.monotonic() + 10
    conns = [suite.connect() for _ in range(count)]
    for c in conns:
        c.send_frame(TEXT, b"ready?")
        c.expect_message("text", b"ready?")
    print("ready", flush=True)
    suite.deadline = time.monotonic() + 30
    failures = 0
    for i, c in enumerate(conns):
        try:
            c.expect_close(1001, note=" after SIGTERM")
            print("PASS shutdown: connection %d got close 1001" % i)
        except Fail as e:
            failures += 1
            print("FAIL shutdown: connection %d: %s" % (i, e))
    print("%d passed, %d failed" % (count - failures, failures), flush=True)
    return 0 if failures == 0 else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9001)
    ap.add_argument("--path", default="/echo")
    ap.add_argument("--max-message", type=int, default=16 * MiB,
                    help="the server's --max-message (default 16 MiB, the testbed default)")
    ap.add_argument("-k", dest="patterns", action="append", default=[],
                    help="a case id or group (5, 6.4, 6.4.1) selects those cases; anything else is "
                         "a regular expression searched in 'id description' (repeatable)")
    ap.add_argument("--timeout", type=float, default=5.0, help="seconds per case (default 5)")
    ap.add_argument("--tls", action="store_true", help="connect with TLS (wss)")
    ap.add_argument("--ca", help="CA certificate file to verify the server with (with --tls)")
    ap.add_argument("--sni", help="TLS server name (default: --host)")
    ap.add_argument("--list", action="store_true", help="list the cases and exit")
    ap.add_argument("--no-health-check", action="store_true",
                    help="skip the fresh /echo connection after each case")
    ap.add_argument("--expect-shutdown", type=int, metavar="N",
                    help="instead of the cases: hold N connections, print 'ready', and expect a "
                         "1001 close on each when the server is stopped")
    args = ap.parse_args()
    if args.expect_shutdown:
        return expect_shutdown(Suite(args), args.expect_shutdown)

    define_cases(args.max_message)
    cases = [c for c in CASES if selected(c[0], c[1], args.patterns)]
    if args.list:
        for cid, desc, _, _ in cases:
            print(cid, desc)
        return 0
    if not cases:
        print("no case matches %s" % args.patterns, file=sys.stderr)
        return 2

    suite = Suite(args)
    passed = failed = 0
    gone_after = None
    started = time.monotonic()
    for cid, desc, fn, timeout in cases:
        if gone_after is not None:
            failed += 1
            print("FAIL %s %s: not run, the server stopped accepting connections after case %s"
                  % (cid, desc, gone_after), flush=True)
            continue
        suite.deadline = time.monotonic() + (timeout or args.timeout)
        why = None
        try:
            fn(suite)
        except Fail as e:
            why = str(e)
        except Exception as e:  # a bug in the suite or an unexpected socket error
            why = "%s: %s" % (type(e).__name__, e)
            if os.environ.get("CONFORMANCE_DEBUG"):
                traceback.print_exc()
        finally:
            suite.close_all()
        if not args.no_health_check:
            try:
                suite.health_check()
            except Fail as e:
                why = (why + "; " if why else "") + "afterwards a fresh connection fails: %s" % e
                if "cannot connect" in str(e):
                    gone_after = cid
        if why is None:
            passed += 1
            print("PASS %s %s" % (cid, desc), flush=True)
        else:
            failed += 1
            print("FAIL %s %s: %s" % (cid, desc, why), flush=True)
    print("# %d cases in %.1f s against %s:%d%s" % (
        len(cases), time.monotonic() - started, args.host, args.port, " (TLS)" if args.tls else ""))
    print("%d passed, %d failed" % (passed, failed), flush=True)
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
