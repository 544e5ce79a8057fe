#!/usr/bin/python3
"""Talks to the package test's host.  Debian's python3-websockets; always /usr/bin/python3.

Usage: client.py ws  ws://127.0.0.1:PORT/ws/echo   text and binary echoes, then a clean close
       client.py sse http://127.0.0.1:PORT/events  the greeting event, then a tick event
"""
import asyncio
import http.client
import sys
import urllib.parse

import websockets


async def ws_echo(url: str) -> None:
    async with websockets.connect(url, open_timeout=5, close_timeout=5) as ws:
        for message in ("hello from the package test", b"\x00\x01\xfe\xff", "é" * 1000):
            await ws.send(message)
            reply = await asyncio.wait_for(ws.recv(), 5)
            if reply != message:
                raise SystemExit(f"echo mismatch: sent {message!r:.40}, got {reply!r:.40}")
    if ws.close_code != 1000:
        raise SystemExit(f"close code {ws.close_code}, expected 1000")
    print("websocket echo: ok")


def sse_events(url: str) -> None:
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=5)
    conn.request("GET", u.path, headers={"Accept": "text/event-stream"})
    res = conn.getresponse()
    if res.status != 200 or not res.getheader("Content-Type", "").startswith("text/event-stream"):
        raise SystemExit(f"GET {u.path}: {res.status} {res.getheader('Content-Type')}")
    events, fields = [], {}
    while len(events) < 2:
        line = res.fp.readline().decode()
        if not line:
            raise SystemExit(f"stream ended after {events}")
        line = line.rstrip("\r\n")
        if line == "":
            if fields:
                events.append(fields)
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            fields[name] = value[1:] if value.startswith(" ") else value
    greeting, tick = events
    if greeting != {"id": "1", "event": "greeting", "data": "hello"}:
        raise SystemExit(f"first event {greeting}")
    if tick.get("event") != "tick" or not tick.get("data", "").startswith("tick "):
        raise SystemExit(f"second event {tick}")
    conn.close()
    print(f"sse: ok ({greeting['data']}, {tick['data']})")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("ws", "sse"):
        raise SystemExit(__doc__)
    if sys.argv[1] == "ws":
        asyncio.run(ws_echo(sys.argv[2]))
    else:
        sse_events(sys.argv[2])
