// Chat rooms on the core's topics: the Rust core keeps each room's members and fans every
// message out (serialised once, no JavaScript per recipient); this file only says what to publish.
//
//   npm run build --workspaces --if-present   (once, from the repository root)
//   node examples/node/chat.js                 then open http://127.0.0.1:8000/ in a browser,
//                                              or connect to ws://127.0.0.1:8000/rooms/lobby?user=alice
//                                              and send {"text": "hello"}
//
// /rooms/{room}?user=U, every member of the room receives:
//   {"type": "join",    "user": U, "room": R, "members": n}   (the newcomer included)
//   {"type": "message", "user": U, "room": R, "text": T}      (the sender included; no direct reply)
//   {"type": "leave",   "user": U, "room": R, "members": n}   (the remaining members)
// /chat: the design document's echo chat, {"text", "user"} in, {"echo": text, "from": user} back.
// The files of examples/chat/ (the browser page) are served on every other path.
// PORT overrides the port (default 8000; 0 picks a free one); Ctrl-C shuts down gracefully.
import { fileURLToPath } from "node:url";

import { Spikard } from "spikard";

/** What a client sends to a room. */
const RoomMessage = {
  type: "object",
  properties: { text: { type: "string", minLength: 1, maxLength: 500 } },
  required: ["text"],
  additionalProperties: false,
};

/** What a client sends to /chat. */
const ChatMessage = {
  type: "object",
  properties: { text: { type: "string" }, user: { type: "string" } },
  required: ["text", "user"],
};

const app = new Spikard({ staticDir: fileURLToPath(new URL("../chat/", import.meta.url)) });

app.websocket(
  "/rooms/{room}",
  (message, ctx) => {
    const { room } = ctx.params;
    ctx.publish(room, { type: "message", user: ctx.state.user, room, text: message.text });
  },
  {
    messageSchema: RoomMessage,
    onConnect: (ctx) => {
      const { room } = ctx.params;
      ctx.state.user = ctx.query.user ?? "anonymous";
      ctx.subscribe(room);
      ctx.publish(room, { type: "join", user: ctx.state.user, room, members: ctx.topicCount(room) });
    },
    // The core has already taken the connection out of its rooms: this reaches the others.
    onDisconnect: (ctx) => {
      const { room } = ctx.params;
      ctx.publish(room, { type: "leave", user: ctx.state.user, room, members: ctx.topicCount(room) });
    },
  },
);

app.websocket("/chat", (message) => ({ echo: message.text, from: message.user }), {
  messageSchema: ChatMessage,
});

const { port } = await app.run({ host: "127.0.0.1", port: Number(process.env.PORT ?? 8000) });
console.log(`chat page: http://127.0.0.1:${port}/`);
