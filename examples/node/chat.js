// Chat server: messages are validated against a JSON Schema in the Rust core, every connected
// client receives every message, and clients are told when someone joins or leaves.
//
//   node examples/node/chat.js      then connect to ws://127.0.0.1:8000/chat?user=alice
//                                   and send {"text": "hello"} (or {"text": "hi", "user": "Alice"})
//
// Broadcasts: {"type": "join" | "leave", "user": ...} and {"type": "message", "user", "text"}.
// SPIKARD_HOST and SPIKARD_PORT override the address (port 0 picks a free one).
import { Spikard } from "spikard";

const ChatMessage = {
  type: "object",
  properties: {
    text: { type: "string", minLength: 1, maxLength: 500 },
    user: { type: "string", minLength: 1, maxLength: 50 },
  },
  required: ["text"],
  additionalProperties: false,
};

/** Everyone connected, by connection id. */
const members = new Map();

function broadcast(message) {
  for (const member of members.values()) {
    try {
      member.send(message);
    } catch {
      // A member that is closing (or too slow, closed with 1013 by the core) misses it.
    }
  }
}

const app = new Spikard();
app.websocket(
  "/chat",
  (message, ctx) => {
    broadcast({ type: "message", user: message.user ?? ctx.state.user, text: message.text });
  },
  {
    messageSchema: ChatMessage,
    onConnect: (ctx) => {
      ctx.state.user = ctx.query.user ?? "anonymous";
      broadcast({ type: "join", user: ctx.state.user });
      members.set(ctx.id, ctx);
    },
    onDisconnect: (ctx) => {
      members.delete(ctx.id);
      broadcast({ type: "leave", user: ctx.state.user });
    },
  },
);

await app.run({
  host: process.env.SPIKARD_HOST ?? "127.0.0.1",
  port: Number(process.env.SPIKARD_PORT ?? 8000),
});
