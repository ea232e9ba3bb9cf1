// Chat rooms on the core's topics: the Rust core keeps each room's members and fans every
// message out (serialised once, no JavaScript per recipient); this file only says what to publish.
//
//   npm run build --workspaces --if-present   (once, from the repository root)
//   node examples/node/chat.js                 then open http://127.0.0.1:8000/ in a browser,
//                                              or connect to ws://127.0.0.1:8000/rooms/lobby?user=alice
//                                              and send {"text": "hello"}
//
// /rooms/{room}?user=U, every member of the room receives, from the room's topic "room:R":
//   {"type": "join",    "user": U, "room": R, "members": n}   (the newcomer included)
//   {"type": "message", "user": U, "room": R, "text": T}      (the sender included; no direct reply)
//   {"type": "leave",   "user": U, "room": R, "members": n}   (the remaining members)
// The topic schema "room:*" says so in the AsyncAPI document (what the browser page's generated
// client types), and the route's response schema `false` says that it never replies directly.
// /chat dispatches by message type ("type"), like examples/rust/chat.rs:
//   {"type": "join", "user": U}             -> {"joined": U}
//   {"type": "say", "text": T, "user": U}   -> {"echo": T, "from": U}   (the design document's route)
//   {"type": "leave"}                       -> {"left": true}
// a message with an "id" (string or integer) gets it back in its reply.
// GET /asyncapi.json answers the app's AsyncAPI document; the files of examples/chat/ (the
// browser page) are served on every other path.
// PORT overrides the port (default 8000; 0 picks a free one); Ctrl-C shuts down gracefully.
// `npx spikard-asyncapi examples/node/chat.js --title "Spikard chat" --version 1.0.0` prints the
// AsyncAPI document (fixtures/asyncapi/chat.json); importing this file does not start the server.
import { argv } from "node:process";
import { fileURLToPath } from "node:url";

import { Spikard } from "spikard";

/** What a client sends to a room. */
const RoomMessage = {
  type: "object",
  properties: { text: { type: "string", minLength: 1, maxLength: 500 } },
  required: ["text"],
  additionalProperties: false,
};

/** What is published to a room's topic ("room:*"): a join or leave notice, or a member's message. */
const RoomEvent = {
  oneOf: [
    {
      type: "object",
      properties: {
        type: { enum: ["join", "leave"] },
        user: { type: "string" },
        room: { type: "string" },
        members: { type: "integer", minimum: 0 },
      },
      required: ["type", "user", "room", "members"],
      additionalProperties: false,
    },
    {
      type: "object",
      properties: {
        type: { const: "message" },
        user: { type: "string" },
        room: { type: "string" },
        text: { type: "string" },
      },
      required: ["type", "user", "room", "text"],
      additionalProperties: false,
    },
  ],
};

// The schemas are raw JSON Schema, written exactly as examples/rust/chat.rs writes them, so
// that the AsyncAPI document is the same whichever language serves it (zod would add
// `$schema` and `additionalProperties: false`, TypeBox its own keys).

/** {"type": "join"}: join the chat as `user`. */
const Join = {
  type: "object",
  properties: { user: { type: "string", minLength: 1 } },
  required: ["user"],
};

/** {"type": "say"}: what a client says. */
const Say = {
  type: "object",
  properties: { text: { type: "string" }, user: { type: "string" } },
  required: ["text", "user"],
};

/** The AsyncAPI Info Object of this app. */
export const info = { title: "Spikard chat", version: "1.0.0" };

export const app = new Spikard({
  staticDir: fileURLToPath(new URL("../chat/", import.meta.url)),
  // HTTP GET /asyncapi.json: the document (fixtures/asyncapi/chat.json), built once at start.
  asyncapi: { path: "/asyncapi.json", info },
});
app.topic("room:*", RoomEvent);

app.websocket(
  "/rooms/{room}",
  (message, ctx) => {
    const { room } = ctx.params;
    ctx.publish(`room:${room}`, { type: "message", user: ctx.state.user, room, text: message.text });
  },
  {
    messageSchema: RoomMessage,
    // Never replies directly: members get everything from the room's topic.
    responseSchema: false,
    onConnect: (ctx) => {
      const { room } = ctx.params;
      const topic = `room:${room}`;
      ctx.state.user = ctx.query.user ?? "anonymous";
      ctx.subscribe(topic);
      ctx.publish(topic, { type: "join", user: ctx.state.user, room, members: ctx.topicCount(topic) });
    },
    // The core has already taken the connection out of its rooms: this reaches the others.
    onDisconnect: (ctx) => {
      const { room } = ctx.params;
      const topic = `room:${room}`;
      ctx.publish(topic, { type: "leave", user: ctx.state.user, room, members: ctx.topicCount(topic) });
    },
  },
);

app
  .dispatch("/chat", { description: "A chat without rooms: join, say something, leave." })
  .on("join", (message) => ({ joined: message.user }), {
    schema: Join,
    replySchema: { type: "object", required: ["joined"] },
    description: "Join the chat as `user`.",
  })
  .on("say", (message) => ({ echo: message.text, from: message.user }), {
    schema: Say,
    replySchema: { type: "object", required: ["echo", "from"] },
    description: "Say `text` as `user`; the reply echoes it.",
  })
  .on("leave", () => ({ left: true }), { schema: { type: "object" }, description: "Leave the chat." });

// Serve only when run as a program (`node examples/node/chat.js`), not when imported.
if (argv[1] !== undefined && fileURLToPath(import.meta.url) === argv[1]) {
  const { port } = await app.run({ host: "127.0.0.1", port: Number(process.env.PORT ?? 8000) });
  console.log(`chat page: http://127.0.0.1:${port}/`);
}
