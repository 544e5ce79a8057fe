# Python `websockets` (Debian python3-websockets; permessage-deflate on by default) as a
# subscriber of a hub's raw endpoint: argv[1] the URL, argv[2] how many messages to read.
# Prints the negotiated Sec-WebSocket-Extensions, then "<length> <FNV-1a 32>" per message.
import asyncio
import sys

import websockets


def fnv1a(data):
    h = 2166136261
    for b in data:
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h


async def main():
    url, count = sys.argv[1], int(sys.argv[2])
    async with websockets.connect(url, max_size=None) as ws:
        print(ws.response_headers.get("Sec-WebSocket-Extensions", ""), flush=True)
        for _ in range(count):
            msg = await ws.recv()
            data = msg.encode() if isinstance(msg, str) else msg
            print(f"{len(data)} {fnv1a(data)}", flush=True)


asyncio.run(main())
