# frozen_string_literal: true

# Chat rooms on the core's topics: the Rust core keeps each room's members and fans every
# message out (serialised once, no Ruby per recipient); this file only says what to publish.
#
#   ruby -I packages/ruby/lib examples/ruby/chat.rb   then open http://127.0.0.1:8000/ in a browser,
#                                                     or connect to ws://127.0.0.1:8000/rooms/lobby?user=alice
#                                                     and send {"text": "hello"}
#
# /rooms/{room}?user=U, every member of the room receives, from the room's topic "room:R":
#   {"type": "join",    "user": U, "room": R, "members": n}   (the newcomer included)
#   {"type": "message", "user": U, "room": R, "text": T}      (the sender included; no direct reply)
#   {"type": "leave",   "user": U, "room": R, "members": n}   (the remaining members)
# The topic schema "room:*" says so in the AsyncAPI document (what the browser page's generated
# client types), and the route's response schema `false` says that it never replies directly.
# /chat dispatches by message type ("type"), as the Rust, Node and Python chat examples do:
#   {"type": "join", "user": U}             -> {"joined": U}
#   {"type": "say", "text": T, "user": U}   -> {"echo": T, "from": U}   (the design document's route)
#   {"type": "leave"}                       -> {"left": true}
# a message with an "id" gets it back in its reply; an unknown type gets validation_failed.
# GET /asyncapi.json answers the app's AsyncAPI document; `spikard-asyncapi examples/ruby/chat.rb`
# prints it instead of serving.
# The files of examples/chat/ (the browser page) are served on every other path.
# PORT overrides the port (default 8000; 0 picks a free one); Ctrl-C or SIGTERM shuts down
# gracefully (every connection is closed with 1001 and the remaining members get the leave notices).
require "spikard"

# The browser page: examples/chat/, next to this file's directory.
PAGE = File.expand_path("../chat", __dir__)

# What a client sends to a room: the same schema the Rust, Node and Python chat examples use.
ROOM_MESSAGE = {
  type: "object",
  properties: { text: { type: "string", minLength: 1, maxLength: 500 } },
  required: ["text"],
  additionalProperties: false
}.freeze

# What is published to a room's topic ("room:*"): a join or leave notice, or a member's message.
ROOM_EVENT = {
  oneOf: [
    {
      type: "object",
      properties: {
        type: { enum: %w[join leave] },
        user: { type: "string" },
        room: { type: "string" },
        members: { type: "integer", minimum: 0 }
      },
      required: %w[type user room members],
      additionalProperties: false
    },
    {
      type: "object",
      properties: {
        type: { const: "message" },
        user: { type: "string" },
        room: { type: "string" },
        text: { type: "string" }
      },
      required: %w[type user room text],
      additionalProperties: false
    }
  ]
}.freeze

# What a client sends to /chat, by type (the schemas of examples/rust/chat.rs).
JOIN_MESSAGE = {
  type: "object",
  properties: { user: { type: "string", minLength: 1 } },
  required: ["user"]
}.freeze
SAY_MESSAGE = {
  type: "object",
  properties: { text: { type: "string" }, user: { type: "string" } },
  required: %w[text user]
}.freeze

# The user (`?user=`, default "anonymous"), the room (the path's `{room}`) and the room's topic
# ("room:" and the room) of a connection.
def names(ws)
  room = ws.params.fetch("room")
  [ws.query.fetch("user", "anonymous"), room, "room:#{room}"]
end

# The app's AsyncAPI document (the same as the other languages' chat examples) on /asyncapi.json.
INFO = { title: "Spikard chat", version: "1.0.0" }.freeze
app = Spikard::App.new(static_dir: PAGE, asyncapi: { path: "/asyncapi.json", info: INFO })
app.topic("room:*", schema: ROOM_EVENT)

# Never replies directly (response schema false): members get everything from the room's topic.
rooms = app.websocket("/rooms/{room}", message_schema: ROOM_MESSAGE, response_schema: false) do |message, ws|
  user, room, topic = names(ws)
  ws.publish(topic, { type: "message", user: user, room: room, text: message["text"] })
  nil # everyone, the sender included, gets the message from the room: no direct reply
end

# Join the room, then tell everyone in it (the newcomer too) who came.
rooms.on_connect do |ws|
  user, room, topic = names(ws)
  ws.subscribe(topic)
  ws.publish(topic, { type: "join", user: user, room: room, members: ws.topic_count(topic) })
end

# The core has already taken the connection out of its room: this reaches the others.
rooms.on_disconnect do |ws, _close|
  user, room, topic = names(ws)
  ws.publish(topic, { type: "leave", user: user, room: room, members: ws.topic_count(topic) })
end

app.websocket("/chat", description: "A chat without rooms: join, say something, leave.") do
  on :join, schema: JOIN_MESSAGE, reply_schema: { type: "object", required: ["joined"] },
            description: "Join the chat as `user`." do |message|
    { joined: message["user"] }
  end

  on :say, schema: SAY_MESSAGE, reply_schema: { type: "object", required: %w[echo from] },
           description: "Say `text` as `user`; the reply echoes it." do |message|
    { echo: message["text"], from: message["user"] }
  end

  on(:leave, schema: { type: "object" }, description: "Leave the chat.") { |_message| { left: true } }
end

app.run(host: "127.0.0.1", port: Integer(ENV.fetch("PORT", "8000"))) do |server|
  puts "Spikard chat: open http://127.0.0.1:#{server.port}/ in a browser"
  $stdout.flush
end
