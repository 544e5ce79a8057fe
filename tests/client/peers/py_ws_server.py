# A Python `websockets` (Debian python3-websockets) echo server for the C++ client tests.
# Prints its port, then echoes; "fragment" is answered with a fragmented text message,
# "headers" with the request headers as JSON, "close" with a close frame 4001 "bye".
import asyncio
import json

import websockets


async def handler(ws, path=None):
    async for m in ws:
        if m == "fragment":
            await ws.send(["frag", "ment", "ed \u00e9"])
        elif m == "headers":
            await ws.send(json.dumps({k.lower(): v for k, v in ws.request_headers.raw_items()}
                                     | {"path": ws.path, "subprotocol": ws.subprotocol or ""},
                                    separators=(",", ":")))
        elif m == "close":
            await ws.close(4001, "bye")
        else:
            await ws.send(m)


async def main():
    async with websockets.serve(handler, "127.0.0.1", 0, subprotocols=["chat", "rtmsg.json"],
                                max_size=None) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.Future()


asyncio.run(main())
