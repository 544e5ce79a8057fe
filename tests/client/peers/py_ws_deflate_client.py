# Python `websockets` (Debian python3-websockets; permessage-deflate on by default) as a client
# of our server: argv[1] the URL, argv[2:] message sizes.  Echoes each size as text and binary,
# prints the negotiated Sec-WebSocket-Extensions, then "ok" (or the first mismatch).
import asyncio
import json
import sys

import websockets


def payload(n, seed):
    s = json.dumps([{"sym": f"S{(i * 7 + seed) % 50}", "px": (i * 7919 + seed) % 100000} for i in range(n // 20 + 1)])
    return s[:n]


async def main():
    url, sizes = sys.argv[1], [int(x) for x in sys.argv[2:]]
    async with websockets.connect(url, max_size=None) as ws:
        print(ws.response_headers.get("Sec-WebSocket-Extensions", ""), flush=True)
        for n in sizes:
            text = payload(n, n)
            for msg in (text, text.encode()):
                await ws.send(msg)
                got = await ws.recv()
                if got != msg:
                    print(f"mismatch at {n} bytes ({type(msg).__name__})", flush=True)
                    return
    print("ok", flush=True)


asyncio.run(main())
