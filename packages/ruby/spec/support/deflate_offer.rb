# frozen_string_literal: true

require "socket"

# Asks a running server for permessage-deflate with a raw upgrade: Spikard::Testing::Client has
# no deflate, so it cannot offer it.
module DeflateOffer
  # The Sec-WebSocket-Extensions header `server` answers to an upgrade of `path` that offers
  # permessage-deflate as browsers do (nil: none, the connection would go on uncompressed).
  def deflate_answer(server, path)
    socket = TCPSocket.new("127.0.0.1", server.port)
    socket.write("GET #{path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" \
                 "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" \
                 "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n")
    head = +""
    head << socket.readpartial(4096) until head.include?("\r\n\r\n")
    raise "the upgrade was refused: #{head}" unless head.start_with?("HTTP/1.1 101 ")

    head[/^sec-websocket-extensions: *([^\r]*)\r$/i, 1]
  ensure
    socket&.close
  end
end

RSpec.configure { |config| config.include DeflateOffer }
