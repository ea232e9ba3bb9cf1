# frozen_string_literal: true

# Spikard Ruby benchmark server: `/echo` (no schema, binary echoed too), `/raw` (raw text), the
# validated `/chat`
# (schema bench/chat_schema.json, checked in the Rust core; replies {"echo" => text, "from" => user})
# and the `/broadcast` room (joined on connect; every message is published to everyone else in it,
# one call into Ruby per message, the core fans out). SPIKARD_BENCH_COMPRESSION=1: permessage-deflate on.
# Reads PORT (0 = any free port), prints `READY <port>` once bound, serves until SIGTERM or Ctrl-C.
require "json"
require "spikard"

ROOM = "bench"
SCHEMA = JSON.parse(File.read(File.expand_path("../chat_schema.json", __dir__)))

# One dispatcher (the default is 4): the server is pinned to one core and the handlers only
# compute, so more threads would only take turns at the GVL; the published numbers use 1.
app = Spikard::App.new(threads: 1, compression: ENV["SPIKARD_BENCH_COMPRESSION"] == "1")
app.websocket("/echo", binary: true, on_binary: ->(data) { data }) { |message| message }
app.websocket("/raw", raw_text: true) { |message| message }
app.websocket("/chat", message_schema: SCHEMA) { |message| { "echo" => message["text"], "from" => message["user"] } }
app.websocket("/broadcast", on_connect: ->(ws) { ws.subscribe(ROOM) }) do |message, ws|
  ws.publish_others(ROOM, message)
  nil
end

server = app.start(host: ENV.fetch("HOST", "127.0.0.1"), port: Integer(ENV.fetch("PORT", "0")))
$stdout.puts "READY #{server.port}"
$stdout.flush
%w[INT TERM].each { |signal| trap(signal) { server.shutdown } }
server.wait
server.stop
