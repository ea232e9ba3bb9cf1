"""Echo server: every JSON message comes straight back.

Run it with ``spikard run examples/python/echo.py:app`` (or ``python examples/python/echo.py``),
then connect to ws://127.0.0.1:8000/echo and send any JSON object.
"""

from typing import Any

from spikard import Spikard, websocket


@websocket("/echo")
async def echo(message: dict[str, Any]) -> dict[str, Any]:
    """Reply with the message itself."""
    return message


app = Spikard(routes=[echo])

if __name__ == "__main__":
    app.run(host="127.0.0.1", port=8000)
