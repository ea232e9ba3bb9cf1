# frozen_string_literal: true

require_relative "spec_helper"
require "socket"

# The handshake limits and bounded shutdown, set from Ruby (the shared fixtures pin the
# connection limit and the origin allowlist, app_spec.rb the ConfigErrors; these need raw
# sockets or timing).
RSpec.describe "handshake limits" do
  def echo_app(**options)
    app = Spikard::App.new(**options)
    app.websocket("/echo") { |message| message }
    app
  end

  # Seconds until the server closes a raw socket that sent `bytes` (fails after `limit`).
  def closed_after(port, bytes, limit)
    started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    socket = TCPSocket.new("127.0.0.1", port)
    socket.write(bytes)
    loop do
      raise "the server kept the socket open for #{limit} s" unless socket.wait_readable(limit)

      break if socket.read_nonblock(4096, exception: false).nil?
    rescue Errno::ECONNRESET
      break
    end
    Process.clock_gettime(Process::CLOCK_MONOTONIC) - started
  ensure
    socket&.close
  end

  it "closes a silent or half-sent handshake at handshake_timeout" do
    Spikard::Testing.serve(echo_app(handshake_timeout: 0.3)) do |server|
      ["", "GET", "GET /echo HTTP/1.1\r\nHost: x\r\n"].each do |sent|
        expect(closed_after(server.port, sent, 3)).to be >= 0.25
      end
      client = server.connect("/echo")
      client.send_json("ok")
      expect(client.receive_json).to eq("ok")
    end
  end

  it "does not let a half-sent request hold up shutdown" do
    server = echo_app(drain_timeout: 30).start
    half = TCPSocket.new("127.0.0.1", server.port)
    half.write("GET /echo HTTP/1.1\r\nHost: x\r\n")
    client = Spikard::Testing::Client.connect(server.url("/echo"))
    client.send_json(1)
    expect(client.receive_json).to eq(1) # accepted in order: the half-sent one is held too
    started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    stopper = Thread.new { server.stop }
    expect(stopper.join(5)).not_to be_nil, "shutdown waited for the half-sent request"
    expect(Process.clock_gettime(Process::CLOCK_MONOTONIC) - started).to be < 4
  ensure
    half&.close
  end

  it "refuses one header over max_header_size with 431" do
    Spikard::Testing.serve(echo_app(max_header_size: 1024)) do |server|
      expect { server.connect("/echo", headers: { "x-big" => "a" * 2000 }) }
        .to raise_error(Spikard::Testing::Rejected) { |e| expect(e.status).to eq(431) }
    end
  end

  it "requires a Sec-WebSocket-Key of 16 bytes of base64 (400 otherwise)" do
    Spikard::Testing.serve(echo_app) do |server|
      { "short" => "400", "dGhlIHNhbXBsZSBub25jZQ==" => "101" }.each do |key, status|
        socket = TCPSocket.new("127.0.0.1", server.port)
        socket.write("GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" \
                     "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: #{key}\r\n\r\n")
        expect(socket.readpartial(4096)).to start_with("HTTP/1.1 #{status} ")
      ensure
        socket&.close
      end
    end
  end
end
