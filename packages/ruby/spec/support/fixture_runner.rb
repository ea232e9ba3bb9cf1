# frozen_string_literal: true

require "json"
require "stringio"

# Runs one shared fixture (fixtures/README.md) against a real server on 127.0.0.1:0 with real
# WebSocket clients.
class FixtureRunner
  LANGUAGE = "ruby"
  EXPECT_TIMEOUT = 5

  # A step failed; the message names what was expected and what came.
  class Mismatch < StandardError; end

  def initialize(fixture)
    @fixture = fixture
    @log = Behaviours::Log.new
    @clients = {}
  end

  def run
    settings = @fixture.fetch("app", {})
    options = settings.slice("max_message_size", "outgoing_queue", "outgoing_queue_bytes", "max_connections",
                             "allowed_origins", "compression").transform_keys(&:to_sym)
    { "fanout_flush_ms" => :fanout_flush_interval, "ping_interval_ms" => :ping_interval,
      "ping_timeout_ms" => :ping_timeout, "idle_timeout_ms" => :idle_timeout,
      "handshake_timeout_ms" => :handshake_timeout, "drain_timeout_ms" => :drain_timeout }.each do |ms, option|
      options[option] = settings[ms] / 1000.0 if settings.key?(ms)
    end
    # Handlers that crash on purpose log there, not on the test run's stderr; shown on a mismatch.
    @logged = StringIO.new
    app = Spikard::App.new(**options, logger: Logger.new(@logged))
    settings.fetch("topics", []).each { |topic| app.topic(topic.fetch("pattern"), schema: topic.fetch("schema")) }
    @fixture.fetch("routes").each { |route| Behaviours.register(app, route, @log) }
    Spikard::Testing.serve(app) do |server|
      @server = server
      @fixture.fetch("steps").each_with_index do |step, index|
        run_step(step)
      rescue StandardError => e
        raise Mismatch, "step #{index} #{JSON.generate(step)}: #{e.class}: #{e.message}\nlogged:\n#{@logged.string}"
      end
    ensure
      @clients.each_value(&:disconnect)
    end
  end

  private

  def run_step(step)
    name = step.fetch("client", "default")
    action, arg = step.find { |key, _| key != "client" }
    case action
    when "connect"
      # Testing::Client has no permessage-deflate: such a fixture lists ruby under skip.
      raise Mismatch, "Spikard::Testing::Client cannot offer permessage-deflate" if arg["compression"]

      @clients[name] = @server.connect(arg.fetch("path"), headers: arg.fetch("headers", {}),
                                                          answer_pings: arg.fetch("answer_pings", true),
                                                          protocols: arg.fetch("protocols", []))
      expect_equal(@clients[name].subprotocol, arg["subprotocol"], "subprotocol") if arg.key?("subprotocol")
    when "connect_rejected" then connect_rejected(arg)
    when "expect_events" then expect_events(arg)
    when "shutdown" then @server.shutdown
    else client_step(client(name), action, arg)
    end
  end

  def client_step(client, action, arg)
    case action
    when "send_json" then client.send_json(arg)
    when "send_text" then client.send_text(arg)
    when "send_text_bytes_hex" then client.send_text_bytes(unhex(arg))
    when "send_binary_hex" then client.send_binary(unhex(arg))
    when "send_frames" then client.send_raw(frames(arg))
    when "send_ping" then client.ping(arg)
    when "expect_pong" then expect_frame(client.receive, :pong, arg.b)
    when "expect_binary_hex" then expect_frame(client.receive_data, :binary, unhex(arg))
    when "expect_json" then expect_equal(client.receive_json, arg, "JSON")
    when "expect_text" then expect_frame(client.receive_data, :text, arg)
    when "expect_error" then expect_envelope(client.receive_data, arg)
    when "expect_nothing_ms" then expect_nothing(client, arg)
    when "expect_close" then expect_close(arg.fetch("skip_data", false) ? skip_to_close(client) : client.receive_data, arg)
    # Testing::Client reads its socket only inside receive calls: until the next expect_* step
    # nothing is read, so frames pile up in the kernel's buffers and then in the server's queue.
    when "stop_reading" then nil
    when "close" then client.close(arg.fetch("code"), arg.fetch("reason", ""))
    else raise Mismatch, "unknown step #{action.inspect}"
    end
  end

  def client(name)
    @clients.fetch(name) { raise Mismatch, "client #{name} is not connected" }
  end

  def connect_rejected(arg)
    @server.connect(arg.fetch("path"), headers: arg.fetch("headers", {}))
  rescue Spikard::Testing::Rejected => e
    expect_equal(e.status, arg.fetch("status"), "HTTP status")
    expect_equal(JSON.parse(e.body)["code"], "connection_rejected", "rejection body code")
  else
    raise Mismatch, "the upgrade succeeded"
  end

  def expect_events(want)
    expect_equal(@log.wait_for(want.size, EXPECT_TIMEOUT), want, "events")
  end

  def expect_frame(frame, type, data)
    return if frame.type == type && frame.data.b == data.b

    raise Mismatch, "expected #{type} #{data.inspect}, got #{frame.to_h}"
  end

  def expect_close(frame, want)
    matches = frame.type == :close && frame.code == want.fetch("code") &&
              (!want.key?("reason") || frame.reason == want["reason"])
    raise Mismatch, "expected close #{want}, got #{frame.to_h}" unless matches
  end

  # The first frame that is not a data frame (nor a pong), within EXPECT_TIMEOUT overall.
  def skip_to_close(client)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + EXPECT_TIMEOUT
    loop do
      frame = client.receive_data
      return frame unless %i[text binary].include?(frame.type)
      raise Mismatch, "no close frame within #{EXPECT_TIMEOUT}s" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
    end
  end

  def expect_envelope(frame, want)
    raise Mismatch, "expected a text frame, got #{frame.to_h}" unless frame.type == :text

    got = JSON.parse(frame.data)
    unless got["type"] == "error" && got["message"].is_a?(String) && got["errors"].is_a?(Array)
      raise Mismatch, "not an error envelope: #{got}"
    end

    expect_equal(got["code"], want.fetch("code"), "code")
    expect_equal(got["message"], want["message"], "message") if want.key?("message")
    expect_equal(got.fetch("truncated", false), want.fetch("truncated", false), "truncated")
    expect_equal(got["errors"].size, want["error_count"], "error count") if want.key?("error_count")
    expect_equal(got["errors"].map { |e| e["message"] }, want["error_messages"], "error messages") if want.key?("error_messages")
    if want.key?("excludes") && frame.data.include?(want["excludes"])
      raise Mismatch, "the envelope contains #{want["excludes"].inspect}: #{frame.data}"
    end
    return unless want.key?("paths")

    expect_equal(got["errors"].map { |e| e["path"] }.uniq.sort, want["paths"].uniq.sort, "error paths")
  end

  # Nothing but pings and pongs for `ms` milliseconds (pings are answered meanwhile).
  def expect_nothing(client, ms)
    saved = client.timeout
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + (ms / 1000.0)
    loop do
      left = deadline - Process.clock_gettime(Process::CLOCK_MONOTONIC)
      return if left <= 0

      client.timeout = left
      frame = client.receive
      raise Mismatch, "expected nothing for #{ms} ms, got #{frame.to_h}" unless %i[ping pong].include?(frame.type)
    end
  rescue Spikard::Testing::Timeout
    nil
  ensure
    client.timeout = saved
  end

  def expect_equal(got, want, what)
    raise Mismatch, "#{what}: expected #{want.inspect}, got #{got.inspect}" unless json_equal?(got, want)
  end

  # JSON equality: 1 and 1.0 are the same number, as in the Rust runner's serde_json values.
  def json_equal?(got, want)
    case want
    when Hash then got.is_a?(Hash) && got.keys.sort == want.keys.sort && want.all? { |k, v| json_equal?(got[k], v) }
    when Array then got.is_a?(Array) && got.size == want.size && got.zip(want).all? { |g, w| json_equal?(g, w) }
    when Numeric then got.is_a?(Numeric) && got == want
    else got == want && got.class == want.class
    end
  end

  def unhex(text) = [text].pack("H*")

  # The bytes of a send_frames step: each frame as a client sends it (FIN, masked with the key 0,
  # which leaves the payload as it is), or raw bytes.
  def frames(list)
    list.map do |item|
      next unhex(item.fetch("raw_hex")) if item.key?("raw_hex")

      opcode, payload = item.key?("text") ? [0x1, item.fetch("text").b] : [0x8, [item.fetch("close")].pack("n")]
      length = payload.bytesize
      head = if length < 126 then [0x80 | opcode, 0x80 | length].pack("CC")
             elsif length < 65_536 then [0x80 | opcode, 0x80 | 126, length].pack("CCn")
             else [0x80 | opcode, 0x80 | 127, length].pack("CCQ>")
             end
      head + ("\0" * 4) + payload
    end.join.b
  end
end
