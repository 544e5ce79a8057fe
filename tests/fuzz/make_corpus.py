#!/usr/bin/env python3
"""Writes the seed corpora under tests/fuzz/corpus/ (except codec_binary, whose seeds are the
JSON seeds re-encoded by the binary codec).  Run from anywhere; files are small and stable."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
JSON = [
    b'{"op":"sub","id":1,"topic":"chat.lobby","history":50,"presence":true}',
    b'{"op":"sub","id":2,"topic":"orders.eu.fr","since":1200,"epoch":"1700000000000123"}',
    b'{"op":"sub","id":3,"topic":"orders.eu.>"}',
    b'{"op":"sub","id":5,"topic":"prices.*"}',
    b'{"op":"unsub","id":3,"topic":"chat.lobby"}',
    b'{"op":"pub","topic":"chat","data":{"text":"hi","n":[1,2.5,null,true]},"id":7,"ack":true}',
    b'{"op":"pub","topic":"chat.lobby","kind":"text","data":"plain \\u00e9 text\\n","echo":false}',
    b'{"op":"pub","topic":"files.thumbs","kind":"binary","data":"iVBORw0KGgo="}',
    b'{"op":"presence","id":4,"topic":"chat.lobby"}',
    b'{"op":"msg","topic":"chat","data":{"text":"hi"},"offset":8813,"epoch":"1700000000000123"}',
    b'{"op":"error","id":7,"code":403,"message":"not allowed"}',
    b'{"op":"members","id":4,"topic":"chat.lobby","members":["alice","bob"]}',
    b'{"op":"gap","topic":"chat","epoch":"1700000000000999","offset":1201,"to":1399}',
    b'{"op":"join","topic":"chat.lobby","who":"carol"}',
    b'{"op":"sub","topic":"a","topic":"b"}',
    b'{"op":"pub","topic":"x","data":[[[[[[[[[[1]]]]]]]]]]}',
]


def write(fuzzer, name, data):
    d = os.path.join(HERE, "corpus", fuzzer)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def ws_frame(op, payload, fin=True, mask=b"\x37\xfa\x21\x3d", rsv=0):
    b0 = (0x80 if fin else 0) | rsv | op
    n = len(payload)
    m = 0x80 if mask else 0
    if n < 126:
        h = bytes([b0, m | n])
    elif n < 65536:
        h = bytes([b0, m | 126]) + struct.pack("!H", n)
    else:
        h = bytes([b0, m | 127]) + struct.pack("!Q", n)
    if mask:
        payload = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
        h += mask
    return h + payload


# http_parser: [piece][header limit / 4 - 16][body limit / 8] + bytes
HTTP = {
    "get": b"GET /echo?x=1 HTTP/1.1\r\nHost: localhost:9001\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: http://a.example\r\n\r\n",
    "post_cl": b"POST /publish HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
    "chunked": b"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5;ext=1;q=\"a\\\"b\"\r\nhello\r\n3\r\n, w\r\n0\r\nTrailer: x\r\n\r\n",
    "pipelined": b"GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.0\r\n\r\nHEAD /c HTTP/1.1\r\nHost: a\r\n\r\n",
    "absolute": b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\nGET http://a.example/x HTTP/1.1\r\nHost: a.example\r\n\r\n",
    "empty_lines": b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\nCookie: a=b; c=d\r\nAccept: text/event-stream\r\n"
    b"Last-Event-ID: 42\r\n\r\n",
    "smuggle": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "bad_version": b"GET / HTTP/2.0\r\nHost: a\r\n\r\n",
}
for name, body in HTTP.items():
    write("http_parser", name, b"\x07\x40\x40" + body)
    write("http_parser", name + "_small", b"\x01\x00\x01" + body)

# ws_frame: [flags: bit0 client role, bit1 bytewise][piece][u16 max message] + frames
server_frames = {
    "text": ws_frame(1, "héllo wörld €𝄞".encode()),
    "binary": ws_frame(2, bytes(range(256))),
    "fragmented": ws_frame(1, b"frag", fin=False) + ws_frame(9, b"ping!") + ws_frame(0, "mént".encode(), fin=False)
    + ws_frame(0, b" end"),
    "close": ws_frame(8, struct.pack("!H", 1000) + b"bye"),
    "close_bad": ws_frame(8, struct.pack("!H", 1005)),
    "len126": ws_frame(2, b"x" * 300),
    "len127": ws_frame(2, b"y" * 70000)[:14] + b"y" * 64,
    "bad_utf8_split": ws_frame(1, b"\xe2\x82", fin=False) + ws_frame(0, b"\xac!"),
    "pong_rsv": ws_frame(10, b"p") + ws_frame(1, b"x", rsv=0x40),
}
for name, frames in server_frames.items():
    write("ws_frame", "server_" + name, b"\x02\x05\xff\xff" + frames)
    write("ws_stream", name, b"\x07\x3f" + frames)
    write("ws_stream", name + "_eof", b"\x01\xff" + frames)
write("ws_frame", "client_text", b"\x01\x03\x10\x00" + ws_frame(1, b"server says hi", mask=None)
      + ws_frame(8, b"\x03\xe8", mask=None))
write("ws_frame", "client_masked", b"\x01\x03\x10\x00" + ws_frame(1, b"masked", mask=b"abcd"))

# codec_json: the envelope itself
for i, j in enumerate(JSON):
    write("codec_json", "env%02d" % i, j)
write("codec_json", "bad_base64", b'{"op":"pub","topic":"t","kind":"binary","data":"AP+"}')
write("codec_json", "escapes", b'{"op":"pub","topic":"t\\ud83d\\ude00","kind":"text","data":"\\"\\\\\\/\\b\\f\\n\\r\\t"}')


# protocol: [flags] then messages: u16 head (bit15 second connection, bit14 binary frame,
# low 12 bits length) + payload.  JSON connection sequences.
def msg(payload, who=0, binary=False):
    return struct.pack("!H", (who << 15) | (0x4000 if binary else 0) | len(payload)) + payload


conv = [
    b'{"op":"sub","id":1,"topic":"chat.lobby","history":5,"presence":true}',
    b'{"op":"pub","topic":"chat.lobby","data":{"text":"hi"},"id":7,"ack":true}',
    b'{"op":"presence","id":4,"topic":"chat.lobby"}',
    b'{"op":"sub","id":2,"topic":"chat.*"}',
    b'{"op":"pub","topic":"chat.lobby","kind":"text","data":"plain","echo":false}',
    b'{"op":"sub","id":3,"topic":"chat.lobby","since":0}',
    b'{"op":"unsub","id":3,"topic":"chat.lobby"}',
    b'{"op":"pub","topic":"xchat","kind":"binary","data":"AP+A"}',
]
write("protocol", "json_conversation", b"\x89" + b"".join(msg(c, who=i % 2 if i > 2 else 0) for i, c in enumerate(conv)))
write("protocol", "json_only", b"\x01" + b"".join(msg(c) for c in conv))
write("protocol", "errors", b"\x19" + msg(b"not json") + msg(b'{"op":"msg","topic":"a"}')
      + msg(b'{"op":"sub","topic":"a..b"}') + msg(b'{"op":"pub","topic":"a","data":{') + msg(b"\xff\xfe", binary=True))
