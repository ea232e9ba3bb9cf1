"""A raw ASGI WebSocket echo app (no framework), served by uvicorn and Granian in the benchmarks.

Every text or binary message is sent back unchanged; the lifespan protocol is answered so both
servers start cleanly.
"""


async def app(scope, receive, send):
    """Echo every WebSocket message back; acknowledge lifespan events; refuse plain HTTP."""
    kind = scope["type"]
    if kind == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            if message["type"] == "websocket.receive":
                text = message.get("text")
                if text is not None:
                    await send({"type": "websocket.send", "text": text})
                else:
                    await send({"type": "websocket.send", "bytes": message["bytes"]})
            elif message["type"] == "websocket.disconnect":
                return
    elif kind == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    else:
        await send({"type": "http.response.start", "status": 426, "headers": []})
        await send({"type": "http.response.body", "body": b"websocket only"})
