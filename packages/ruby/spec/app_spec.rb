# frozen_string_literal: true

require_relative "spec_helper"

RSpec.describe Spikard::App do
  def serve(app, &block) = Spikard::Testing.serve(app, &block)

  describe "#websocket with a block" do
    it "replies with what the block returns, Symbol keys as strings" do
      app = described_class.new
      app.websocket("/echo") { |message, ws| { got: message, path: ws.path, sym: :value } }
      serve(app) do |server|
        client = server.connect("/echo")
        client.send_json({ "a" => 1 })
        expect(client.receive_json).to eq("got" => { "a" => 1 }, "path" => "/echo", "sym" => "value")
      end
    end

    it "sends nothing when the block returns nil" do
      app = described_class.new
      app.websocket("/quiet") { |message| message["say"] }
      serve(app) do |server|
        client = server.connect("/quiet")
        client.send_json({})
        client.send_json({ "say" => "second" })
        expect(client.receive_json).to eq("second")
      end
    end

    it "sends the message of a Spikard::HandlerError in a handler_error envelope and keeps the connection" do
      log = StringIO.new
      app = described_class.new(logger: Logger.new(log))
      app.websocket("/fail") { |message| message["ok"] ? "fine" : raise(Spikard::HandlerError, "bad input") }
      serve(app) do |server|
        client = server.connect("/fail")
        client.send_json({})
        expect(client.receive_json).to include("type" => "error", "code" => "handler_error", "message" => "bad input")
        client.send_json({ "ok" => true })
        expect(client.receive_json).to eq("fine")
      end
      expect(log.string).to be_empty # an error raised for the client is not a failure of the server
    end

    it "never sends another exception's text to the client and logs it with its backtrace" do
      log = StringIO.new
      app = described_class.new(logger: Logger.new(log))
      app.websocket("/crash") { |message| message["ok"] ? "fine" : raise(KeyError, "secret internal detail") }
      serve(app) do |server|
        client = server.connect("/crash")
        client.send_json({})
        expect(client.receive_json).to eq("type" => "error", "code" => "handler_error", "message" => "internal error", "errors" => [])
        client.send_json({ "ok" => true })
        expect(client.receive_json).to eq("fine")
      end
      expect(log.string).to match(%r{\AE, .* ERROR -- spikard: handler of route /crash raised .*secret internal detail \(KeyError\)})
      expect(log.string).to include("#{__FILE__}:") # the backtrace, down to this file
    end

    it "answers a reply that JSON cannot hold with an internal error, logged" do
      log = StringIO.new
      app = described_class.new(logger: Logger.new(log))
      app.websocket("/odd") { |_message| { when: Object.new } }
      serve(app) do |server|
        client = server.connect("/odd")
        client.send_json(1)
        expect(client.receive_json).to include("code" => "handler_error", "message" => "internal error")
      end
      expect(log.string).to match(%r{handler of route /odd raised .*cannot convert Object to JSON \(TypeError\)})
    end

    it "sends a binary String returned for a text message as a binary frame" do
      app = described_class.new
      app.websocket("/bytes") { |message| message["binary"] ? "\x00\xFF".b : "text" }
      serve(app) do |server|
        client = server.connect("/bytes")
        client.send_json({ "binary" => true })
        client.send_json({})
        expect(client.receive_data.to_h.slice(:type, :data)).to eq(type: :binary, data: "\x00\xFF".b)
        expect(client.receive_json).to eq("text")
      end
    end

    it "converts nested values both ways" do
      app = described_class.new
      app.websocket("/types") do |message|
        { classes: message.map { |value| value.class.name }, back: message, big: 2**63, float: 1.5, list: [nil, true] }
      end
      serve(app) do |server|
        client = server.connect("/types")
        client.send_json([1, 2.5, "s", nil, true, { "k" => [] }])
        expect(client.receive_json).to eq(
          "classes" => %w[Integer Float String NilClass TrueClass Hash],
          "back" => [1, 2.5, "s", nil, true, { "k" => [] }], "big" => 2**63, "float" => 1.5, "list" => [nil, true]
        )
      end
    end
  end

  describe "hooks" do
    it "accepts hooks as options, with the close code and reason" do
      events = Queue.new
      app = described_class.new
      app.websocket("/h", on_connect: ->(ws) { events << [:connect, ws.path] },
                          on_disconnect: ->(_ws, close) { events << [:disconnect, close.code, close.reason] }) { |m| m }
      serve(app) do |server|
        client = server.connect("/h")
        expect(events.pop).to eq([:connect, "/h"])
        client.close(4001, "done")
        expect(events.pop).to eq([:disconnect, 4001, "done"])
      end
    end

    it "accepts hooks chained on the returned route" do
      events = Queue.new
      app = described_class.new
      route = app.websocket("/chained") { |m| m }
      route.on_connect { |ws| ws.state[:joined] = true }
      route.on_disconnect { |ws, close| events << [ws.state[:joined], close.code] }
      serve(app) do |server|
        server.connect("/chained").close(1000)
        expect(events.pop).to eq([true, 1000])
      end
    end

    it "accepts a declaring block without parameters" do
      events = Queue.new
      app = described_class.new
      app.websocket("/declared") do
        message_schema type: :object, required: [:text]
        on_connect { |ws| ws.state[:n] = 0 }
        on_message { |message, ws| { text: message["text"], n: ws.state[:n] += 1 } }
        on_disconnect { |_ws, close| events << close.code }
      end
      serve(app) do |server|
        client = server.connect("/declared")
        client.send_json({ "text" => "a" })
        expect(client.receive_json).to eq("text" => "a", "n" => 1)
        client.send_json({})
        expect(client.receive_json).to include("code" => "validation_failed")
        client.close(1000)
        expect(events.pop).to eq(1000)
      end
    end

    it "refuses a handler and a message block together" do
      expect { described_class.new.websocket("/x", ->(m) { m }) { |m| m } }.to raise_error(ArgumentError, /not both/)
    end

    it "refuses a declaring block that declares no message handler" do
      expect { described_class.new.websocket("/x") { { ok: true } } }.to raise_error(ArgumentError, /no message handler/)
    end

    it "rejects with a status from on_connect and never runs on_disconnect" do
      events = Queue.new
      app = described_class.new
      app.websocket("/private", on_connect: ->(ws) { ws.reject!("who are you?", status: 401) },
                                on_disconnect: ->(_ws, _close) { events << :disconnect }) { |m| m }
      app.websocket("/open", on_connect: ->(_ws) { events << :open }) { |m| m }
      serve(app) do |server|
        expect { server.connect("/private") }.to raise_error(Spikard::Testing::Rejected) { |error|
          expect(error.status).to eq(401)
          expect(JSON.parse(error.body)).to include("code" => "connection_rejected", "message" => "who are you?")
        }
        server.connect("/open").close
        expect(events.pop).to eq(:open)
        expect(events).to be_empty
      end
    end

    it "refuses the upgrade with 500 and logs it when on_connect raises another error" do
      log = StringIO.new
      app = described_class.new(logger: Logger.new(log))
      app.websocket("/broken", on_connect: ->(_ws) { raise "no database" }) { |m| m }
      serve(app) do |server|
        expect { server.connect("/broken") }.to raise_error(Spikard::Testing::Rejected) { |error|
          expect(error.status).to eq(500)
          expect(JSON.parse(error.body)).to include("message" => "internal error")
        }
      end
      expect(log.string).to match(%r{on_connect of route /broken raised .*no database \(RuntimeError\)})
    end

    it "logs an exception of on_disconnect through the logger, not on stderr" do
      log = StringIO.new
      app = described_class.new(logger: Logger.new(log))
      app.websocket("/bye", on_disconnect: ->(_ws, _close) { raise "cleanup failed" }) { |m| m }
      expect do
        serve(app) { |server| server.connect("/bye").close }
      end.not_to output.to_stderr
      expect(log.string).to match(%r{on_disconnect of route /bye raised .*cleanup failed \(RuntimeError\)})
    end

    it "runs on_disconnect with 1001 for open connections when the server stops" do
      events = Queue.new
      app = described_class.new
      app.websocket("/stay", on_disconnect: ->(_ws, close) { events << close.code }) { |m| m }
      server = app.start
      client = server.connect("/stay")
      client.send_json(1)
      expect(client.receive_json).to eq(1)
      stopping = Thread.new { server.stop }
      expect(client.receive_data.code).to eq(1001) # answered at once by the test client
      stopping.join
      expect(events.pop(true)).to eq(1001)
    end
  end

  describe "handler objects" do
    let(:handler_class) do
      Class.new(Spikard::Handler) do
        message_schema "type" => "object", :properties => { text: { type: "string" } }, "required" => ["text"]
        response_schema type: "object", required: ["echo"]

        def on_connect(ws) = ws.state[:count] = 0

        def on_message(message, ws)
          ws.state[:count] += 1
          message["text"] == "bad reply" ? { nope: 1 } : { echo: message["text"], count: ws.state[:count] }
        end
      end
    end

    it "serves a Spikard::Handler subclass with its class-level schemas" do
      log = StringIO.new
      app = described_class.new(logger: Logger.new(log))
      app.websocket("/obj", handler_class)
      serve(app) do |server|
        client = server.connect("/obj")
        client.send_json({ "text" => 5 })
        expect(client.receive_json).to include("code" => "validation_failed", "errors" => [include("path" => "/text")])
        client.send_json({ "text" => "bad reply" })
        client.send_json({ "text" => "hi" })
        expect(client.receive_json).to eq("echo" => "hi", "count" => 2)
        expect(server.metrics[:replies_dropped]).to eq(1)
      end
      # The core's own event, at its level, named by the Rust module that logged it.
      expect(log.string).to match(%r{^W, .* WARN -- spikard::session: reply failed the response schema; dropped route=/obj})
    end

    it "refuses a Spikard::Handler subclass without on_message" do
      expect { described_class.new.websocket("/h", Class.new(Spikard::Handler)) }
        .to raise_error(ArgumentError, /must define on_message/)
    end

    it "serves any object with on_message, and callables of one parameter" do
      plain = Object.new
      def plain.on_message(message, _ws) = { plain: message }
      app = described_class.new
      app.websocket("/plain", plain)
      app.websocket("/lambda", ->(message) { { lambda: message } })
      serve(app) do |server|
        a = server.connect("/plain")
        a.send_json(1)
        expect(a.receive_json).to eq("plain" => 1)
        b = server.connect("/lambda")
        b.send_json(2)
        expect(b.receive_json).to eq("lambda" => 2)
      end
    end
  end

  describe "binary messages" do
    it "sends a String from on_binary as binary and other values as JSON" do
      app = described_class.new
      route = app.websocket("/bin") { |message| message }
      route.on_binary { |data, _ws| data.start_with?("j") ? { size: data.bytesize, binary: data.encoding.name } : data.reverse }
      serve(app) do |server|
        client = server.connect("/bin")
        client.send_binary("\x00\x01\xFF".b)
        expect(client.receive_data.to_h.slice(:type, :data)).to eq(type: :binary, data: "\xFF\x01\x00".b)
        client.send_binary("json")
        expect(client.receive_json).to eq("size" => 4, "binary" => "ASCII-8BIT")
      end
    end
  end

  describe "the connection" do
    it "exposes id, route, params, query, headers and the client address" do
      app = described_class.new
      app.websocket("/rooms/{room}") do |_message, ws|
        { id: ws.id, route: ws.route, params: ws.params, query: ws.query, pairs: ws.query_pairs,
          header: ws.headers["x-test"], remote: ws.remote_addr.start_with?("127.0.0.1:"), closing: ws.closing? }
      end
      serve(app) do |server|
        client = server.connect("/rooms/blue?tag=a&tag=b", headers: { "X-Test" => "yes" })
        client.send_json(nil)
        reply = client.receive_json
        expect(reply).to include("route" => "/rooms/{room}", "params" => { "room" => "blue" },
                                 "query" => { "tag" => "a" }, "pairs" => [%w[tag a], %w[tag b]],
                                 "header" => "yes", "remote" => true, "closing" => false)
        expect(reply["id"]).to be_a(Integer)
      end
    end

    it "can push from another Ruby thread and raises ConnectionClosed once closed" do
      connected = Queue.new
      app = described_class.new
      app.websocket("/push", on_connect: ->(ws) { connected << ws }) { |m| m }
      serve(app) do |server|
        client = server.connect("/push")
        ws = connected.pop
        Thread.new { ws.send({ pushed: true }) }.join
        expect(client.receive_json).to eq("pushed" => true)
        ws.close(4000, "bye")
        expect(client.receive_data.to_h.slice(:code, :reason)).to eq(code: 4000, reason: "bye")
        expect { ws.send({}) }.to raise_error(Spikard::ConnectionClosed) { |e| expect(e.code).to eq("connection_closed") }
        expect { ws.close(999) }.to raise_error(Spikard::InvalidCloseError, /999/) { |e| expect(e.code).to eq("invalid_close") }
        expect { ws.close(1000, "x" * 124) }.to raise_error(Spikard::InvalidCloseError, /124 bytes/)
      end
    end
  end

  describe "rooms" do
    it "publishes to subscribers from a handler, from the app and from another thread" do
      app = described_class.new
      app.websocket("/room/{name}", on_connect: ->(ws) { ws.subscribe(ws.params["name"]) }) do |message, ws|
        { others: ws.publish_others(ws.params["name"], message), topics: ws.subscriptions,
          count: ws.topic_count(ws.params["name"]) }
      end
      serve(app) do |server|
        a = server.connect("/room/x")
        b = server.connect("/room/x")
        c = server.connect("/room/y")
        a.send_json({ "hi" => 1 })
        expect(b.receive_json).to eq("hi" => 1)
        expect(a.receive_json).to eq("others" => 1, "topics" => ["x"], "count" => 2)
        expect(Thread.new { app.publish("x", { "all" => true }) }.value).to eq(2)
        expect([a.receive_json, b.receive_json]).to eq([{ "all" => true }] * 2)
        expect(server.publish("y", [1])).to eq(1)
        expect(c.receive_json).to eq([1])
        expect(server.topics.sort).to eq(%w[x y])
        expect(server.topic_count("nobody")).to eq(0)
      end
    end

    it "checks messages published to a topic with a schema, exact names before prefixes" do
      caught = Queue.new
      log = StringIO.new
      app = Spikard.app(logger: Logger.new(log)) do
        topic "news*", schema: { type: "object", properties: { text: { type: "string", maxLength: 5 } } }
        topic "news/free", schema: true
        websocket("/news/{desk}", on_connect: ->(ws) { ws.subscribe("news/#{ws.params["desk"]}") }) do |message, ws|
          topic = message.fetch("topic")
          if message["catch"]
            begin
              ws.publish_others(topic, { text: message["text"] })
            rescue Spikard::PublishError => e
              caught << e
              { caught: e.code }
            end
          else
            { delivered: ws.publish(topic, { text: message["text"] }) }
          end
        end
      end
      expect(app.topic_schemas.keys).to eq(%w[news* news/free])
      serve(app) do |server|
        reader = server.connect("/news/eu")
        writer = server.connect("/news/free")
        writer.send_json({ "topic" => "news/eu", "text" => "far too long" })
        failure = writer.receive_json
        expect(failure).to eq("type" => "error", "code" => "handler_error", "message" => "internal error", "errors" => [])
        writer.send_json({ "topic" => "news/eu", "text" => "far too long", "catch" => true })
        expect(writer.receive_json).to eq("caught" => "publish_invalid")
        error = caught.pop
        expect(error).to be_a(Spikard::Error)
        expect([error.code, error.topic]).to eq(["publish_invalid", "news/eu"])
        expect(error.message).to start_with('message published to "news/eu" does not match the topic\'s schema: /text')
        expect(log.string).to include("PublishError", error.message) # uncaught: logged, not sent
        expect(error.errors.map(&:to_h)).to eq([{ path: "/text", message: error.errors[0].message, keyword: "maxLength" }])
        expect(error.errors[0]["keyword"]).to eq("maxLength")

        expect { server.publish("news/eu", { text: 1 }) }.to raise_error(Spikard::PublishError) { |e|
          expect([e.topic, e.errors.map(&:path), e.errors.map(&:keyword)]).to eq(["news/eu", ["/text"], ["type"]])
        }
        expect { app.publish("newsroom", { text: "too long" }) }.to raise_error(Spikard::PublishError, /"newsroom"/)
        # The exact pattern (schema `true`) beats the prefix; topics matching nothing are unchecked.
        writer.send_json({ "topic" => "news/free", "text" => "long but free" })
        expect([writer.receive_json, writer.receive_json]).to eq([{ "text" => "long but free" }, { "delivered" => 1 }])
        expect(server.publish("sport", { text: "anything goes" })).to eq(0)
        # The refused messages reached nobody: the reader's first message is the valid one.
        expect(server.publish("news/eu", { text: "short" })).to eq(1)
        expect(reader.receive_json).to eq("text" => "short")
        expect(server.metrics[:publishes_refused]).to eq(4)
      end
    end

    it "refuses a topic schema that does not compile, a bad pattern and a pattern declared twice" do
      app = described_class.new
      expect { app.topic("news", schema: { type: 12 }) }
        .to raise_error(Spikard::SchemaError, /news/) { |e| expect(e.code).to eq("schema_compile") }
      expect { app.topic("a*b", schema: {}) }
        .to raise_error(Spikard::ConfigError) { |e| expect(e.code).to eq("invalid_config") }
      app.topic("news", schema: {})
      expect { app.topic("news", schema: { type: "object" }) }
        .to raise_error(Spikard::ConfigError, /already has a schema/) { |e| expect(e.code).to eq("invalid_config") }
      expect(app.topic_schemas).to eq("news" => {})
    end

    it "refuses to publish before the app runs" do
      expect { described_class.new.publish("t", {}) }.to raise_error(Spikard::ServerError, /not running/)
    end
  end

  describe "threads" do
    it "runs handlers on dispatcher threads, not the caller's; four of them by default" do
      app = described_class.new
      app.websocket("/where") { |_m| Thread.current.name }
      serve(app) do |server|
        expect(server.dispatchers.size).to eq(4)
        client = server.connect("/where")
        client.send_json(0)
        expect(client.receive_json).to match(/\Aspikard-dispatch-[0-3]\z/)
      end
    end

    it "runs every handler on the one dispatcher with threads: 1" do
      app = described_class.new(threads: 1)
      app.websocket("/where") { |_m| Thread.current.name }
      serve(app) do |server|
        expect(server.dispatchers.size).to eq(1)
        clients = Array.new(3) { server.connect("/where") }
        clients.each { |client| client.send_json(0) }
        expect(clients.map(&:receive_json)).to all(eq("spikard-dispatch-0"))
      end
    end

    it "serves other connections while a handler blocks, with the default threads" do
      gate = Queue.new
      app = described_class.new
      app.websocket("/slow") { |_m| gate.pop }
      app.websocket("/fast") { |m| m }
      serve(app) do |server|
        slow = server.connect("/slow")
        fast = server.connect("/fast")
        slow.send_json(0)
        fast.send_json("quick")
        expect(fast.receive_json).to eq("quick")
        gate << "released"
        expect(slow.receive_json).to eq("released")
      ensure
        gate << "released" # a failure above must not leave the server waiting on the handler
      end
    end

    it "lets a handler shut the server down, but not wait for itself" do
      errors = Queue.new
      app = described_class.new
      server = nil
      app.websocket("/off") do |_message|
        server.stop
      rescue ThreadError => e
        errors << e.message
        server.shutdown
        nil
      end
      server = app.start
      client = server.connect("/off")
      client.send_json(0)
      expect(client.receive_data.code).to eq(1001)
      expect(server.wait(5)).to be(true)
      expect(errors.pop).to include("call #shutdown from a handler")
    end

    it "lets Thread#raise reach a waiting dispatcher; the others keep serving" do
      app = described_class.new(threads: 2)
      app.websocket("/e") { |m| m }
      server = app.start
      victim = server.dispatchers[0]
      victim.report_on_exception = false
      victim.raise(RuntimeError, "stop here")
      expect { victim.join(5) }.to raise_error(RuntimeError, "stop here")
      client = server.connect("/e")
      client.send_json("still served")
      expect(client.receive_json).to eq("still served")
      client.close
      expect { server.stop }.to raise_error(RuntimeError, "stop here")
      expect(server.stopped?).to be(true)
    end

    it "keeps the order of many pipelined messages" do
      app = described_class.new
      app.websocket("/order") { |m| m }
      serve(app) do |server|
        client = server.connect("/order")
        500.times { |i| client.send_json(i) }
        expect(Array.new(500) { client.receive_json }).to eq((0...500).to_a)
      end
    end
  end

  describe "serving" do
    it "runs on the IPv6 loopback ::1, logging its address on the app's logger" do
      begin
        TCPServer.new("::1", 0).close
      rescue SystemCallError => e
        skip("this machine has no IPv6 loopback (#{e.class})")
      end
      printed = StringIO.new
      format = ->(severity, _time, progname, message) { "#{severity} #{progname}: #{message}\n" }
      app = described_class.new(logger: Logger.new(printed, formatter: format))
      app.websocket("/v6") { |_message, ws| ws.remote_addr }
      replies = []
      app.run(host: "::1", port: 0) do |server|
        client = server.connect("/v6")
        client.send_json(1)
        replies << client.receive_json
        client.close
        server.shutdown
      end
      expect(printed.string).to match(%r{\AINFO spikard: spikard listening on ws://\[::1\]:\d+/\n\z})
      expect(replies).to match([start_with("[::1]:")])
    end

    it "passes the handshake limits to the core" do
      app = described_class.new(max_header_size: 1024, max_request_head: 8192, handshake_timeout: 2, read_buffer_size: 4096)
      app.websocket("/a") { |m| m }
      serve(app) do |server|
        expect { server.connect("/a", headers: { "x-big" => "x" * 2000 }) }
          .to raise_error(Spikard::Testing::Rejected) { |e| expect(e.status).to eq(431) }
        client = server.connect("/a", headers: { "x-fine" => "x" * 900 })
        client.send_json("x" * 6000)
        expect(client.receive_json).to eq("x" * 6000)
      end
    end

    it "raises QueueFullError, a ConnectionClosed, when a send finds the client's queue full" do
      outcome = Queue.new
      app = described_class.new(outgoing_queue: 4, logger: Logger.new(StringIO.new))
      app.websocket("/flood") do |_message, ws|
        fill = "x" * 4096
        10_000.times { ws.send({ fill: fill }) }
        outcome << :all_sent
        nil
      rescue Spikard::ConnectionClosed => e
        outcome << e
        nil
      end
      serve(app) do |server|
        server.connect("/flood").send_json(0) # and never read
        error = outcome.pop
        expect([error.class, error.code]).to eq([Spikard::QueueFullError, "queue_full"])
      end
    end
  end

  describe "errors" do
    it "raises SchemaError naming the route when a schema does not compile" do
      expect { described_class.new.websocket("/bad", message_schema: { type: 12 }) { |m| m } }
        .to raise_error(Spikard::SchemaError, %r{/bad}) { |e| expect(e.code).to eq("schema_compile") }
    end

    it "raises ConfigError for a duplicate route and for a bad path" do
      app = described_class.new
      app.websocket("/a") { |m| m }
      expect { app.websocket("/a") { |m| m } }.to raise_error(Spikard::ConfigError) { |e| expect(e.code).to eq("duplicate_route") }
      app.websocket("no-slash") { |m| m }
      expect { app.start }.to raise_error(Spikard::ConfigError) { |e| expect(e.code).to eq("invalid_path") }
    end

    it "raises ConfigError naming a negative duration or a zero limit when the app starts" do
      { fanout_flush_interval: -1, handshake_timeout: -1, max_connections: 0, max_header_size: 0 }.each do |option, value|
        app = described_class.new(option => value)
        app.websocket("/a") { |m| m }
        expect { app.start }.to raise_error(Spikard::ConfigError, /#{option}/) { |e| expect(e.code).to eq("invalid_config") }
      end
    end

    it "raises ServerError pubsub_unavailable when the pubsub Redis cannot be reached" do
      port = TCPServer.open("127.0.0.1", 0) { |s| s.addr[1] }
      app = described_class.new(pubsub: "redis://127.0.0.1:#{port}/0")
      app.websocket("/a") { |m| m }
      expect { app.start }.to raise_error(Spikard::ServerError, /cannot reach the pub\/sub backend/) { |e|
        expect(e.code).to eq("pubsub_unavailable")
      }
      expect { described_class.new(pubsub: "kafka://x").start }.to raise_error(Spikard::ConfigError, /pubsub must be/)
    end

    it "raises BindError when the port is taken" do
      app = described_class.new
      app.websocket("/a") { |m| m }
      serve(app) do |server|
        expect { app.start(port: server.port) }.to raise_error(Spikard::BindError) { |e| expect(e.code).to eq("bind_failed") }
      end
    end

    it "refuses a zero size limit and zero threads" do
      app = described_class.new(max_message_size: 0)
      app.websocket("/a") { |m| m }
      expect { app.start }.to raise_error(Spikard::ConfigError) { |e| expect(e.code).to eq("invalid_config") }
      expect { described_class.new(threads: 0) }.to raise_error(Spikard::ConfigError)
    end
  end

  describe "compression" do
    # The Sec-WebSocket-Extensions `app` answers to a client offering permessage-deflate.
    def answer(app)
      app.websocket("/a") { |m| m }
      serve(app) { |server| deflate_answer(server, "/a") }
    end

    it "is negotiated only when the app sets it, with the settings given" do
      expect(answer(described_class.new)).to be_nil # off by default
      expect(answer(described_class.new(compression: false))).to be_nil
      expect(answer(described_class.new(compression: true))).to eq("permessage-deflate; server_no_context_takeover")
      kept = described_class.new(compression: { threshold: 0, "server_context_takeover" => true })
      expect(answer(kept)).to eq("permessage-deflate")
      expect(answer(described_class.new(compression: { level: 9 }))).to eq("permessage-deflate; server_no_context_takeover")
    end

    it "raises ConfigError for an invalid value when the app starts" do
      ["yes", 1, { threshold: -1 }, { threshold: "big" }, { server_context_takeover: 1 }, { level: 10 }, { level: "fast" }, { colour: 1 }].each do |value|
        app = described_class.new(compression: value)
        app.websocket("/a") { |m| m }
        expect { app.start }.to raise_error(Spikard::ConfigError, /compression/) { |e| expect(e.code).to eq("invalid_config") }
      end
    end
  end

  describe "Spikard.app" do
    it "builds an app inside the block, or hands it over with a parameter" do
      inside = Spikard.app(max_message_size: 1024) { websocket("/one") { |m| m } }
      outside = Spikard.app { |app| app.websocket("/two") { |m| m } }
      expect(inside.routes.map(&:path)).to eq(["/one"])
      expect(outside.routes.map(&:path)).to eq(["/two"])
    end
  end

  describe "lifespan hooks" do
    it "runs on_startup before binding and on_shutdown after every on_disconnect, in order" do
      events = []
      app = Spikard.app do
        on_startup { events << :startup_one }
        on_startup { events << :startup_two }
        on_shutdown { events << :shutdown }
        websocket("/echo", on_disconnect: ->(_ws, _close) { events << :disconnect }) { |message| message }
      end
      Spikard::Testing.serve(app) do |server|
        expect(events).to eq(%i[startup_one startup_two])
        client = server.connect("/echo")
        client.send_json("hi")
        expect(client.receive_json).to eq("hi")
        client.close(1000, "")
      end
      expect(events).to eq(%i[startup_one startup_two disconnect shutdown])
    end

    it "does not bind when on_startup raises, and logs an on_shutdown that raises" do
      failing = Spikard.app { on_startup { raise "database unreachable" } }
      expect { failing.start }.to raise_error(RuntimeError, "database unreachable")

      logged = StringIO.new
      ran = []
      app = Spikard::App.new(logger: Logger.new(logged))
      app.on_shutdown { raise "pool gone" }
      app.on_shutdown { ran << :next }
      app.start.stop
      expect(ran).to eq([:next])
      expect(logged.string).to include("on_shutdown hook raised", "pool gone")
    end
  end

  describe "subprotocols and cookies" do
    it "selects the route's preferred subprotocol among the client's and reads cookies" do
      app = Spikard.app do
        websocket("/p", subprotocols: %w[graphql-transport-ws graphql-ws]) do |_message, ws|
          { subprotocol: ws.subprotocol, cookies: ws.cookies }
        end
      end
      Spikard::Testing.serve(app) do |server|
        client = server.connect("/p", protocols: ["graphql-ws"], headers: { "Cookie" => "a=1; a=2; b=x" })
        expect(client.subprotocol).to eq("graphql-ws")
        client.send_json({})
        expect(client.receive_json).to eq({ "subprotocol" => "graphql-ws", "cookies" => { "a" => "1", "b" => "x" } })
      end
    end

    it "refuses a subprotocol that is not an HTTP token" do
      app = Spikard.app { websocket("/p", subprotocols: ["not a token"]) { |m| m } }
      expect { app.start }.to raise_error(Spikard::ConfigError, /not an HTTP token/)
    end
  end

  describe "publish capture" do
    it "records what handlers and the server publish to a topic while the block runs" do
      app = Spikard.app do
        websocket("/rooms/{room}") do |message, ws|
          ws.publish("room:#{ws.params['room']}", message)
          "published"
        end
      end
      Spikard::Testing.serve(app) do |server|
        published = server.capture("room:lobby") do
          client = server.connect("/rooms/lobby")
          client.send_json({ text: "hi" })
          expect(client.receive_json).to eq("published")
          server.publish("room:lobby", { text: "from the server" })
          server.publish("room:other", { text: "elsewhere" })
        end
        expect(published).to eq([{ "text" => "hi" }, { "text" => "from the server" }])
        capture = server.capture("room:lobby")
        server.publish("room:lobby", [1])
        capture.stop
        server.publish("room:lobby", [2])
        expect(capture.messages).to eq([[1]])
      end
    end
  end
end
