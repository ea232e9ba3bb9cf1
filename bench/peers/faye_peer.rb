# Echo peer: faye-websocket on the thin server (EventMachine), no extensions (no deflate).
# Reads PORT (0 = any free port) and prints `READY <port>` once listening.
require "faye/websocket"
require "thin"
require "socket"

Faye::WebSocket.load_adapter("thin")

APP = lambda do |env|
  next [426, {}, ["websocket only"]] unless Faye::WebSocket.websocket?(env)

  ws = Faye::WebSocket.new(env, nil, extensions: [], max_length: 2**24)
  ws.on(:message) { |event| ws.send(event.data) }
  ws.rack_response
end

host = ENV.fetch("HOST", "127.0.0.1")
port = Integer(ENV.fetch("PORT", "0"))
Thin::Logging.silent = true

# epoll and a descriptor table past thin's default 1,024 connections must be set before the
# reactor starts (the idle-memory run holds 5,000 connections).
EM.epoll
EM.set_descriptor_table_size(20_000)

EM.run do
  server = Thin::Server.new(host, port, APP, signals: false)
  server.maximum_connections = 20_000
  server.start
  bound = Socket.unpack_sockaddr_in(EM.get_sockname(server.backend.instance_variable_get(:@signature)))[0]
  $stdout.puts "READY #{bound}"
  $stdout.flush
  trap("TERM") { EM.stop }
  trap("INT") { EM.stop }
end
