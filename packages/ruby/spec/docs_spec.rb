# frozen_string_literal: true

require_relative "spec_helper"
require "net/http"

# Every ```ruby block of docs/ruby.md, executed against the real gem: a block that runs a server
# runs as a program on port 0, stopped with a signal; a block that builds an app is evaluated in
# a fresh object (its classes, constants and methods stay there) and its app served on
# 127.0.0.1:0, used by real clients and stopped at the end. A block without a runner below fails
# the suite, so the guide cannot grow an example nobody runs.
RSpec.describe "docs/ruby.md" do
  # One fenced Ruby block: the heading it sits under ("Rooms", "Rooms #2" for a second one), its
  # code and the line of its first code line.
  DocBlock = Struct.new(:key, :code, :line)

  DOC = File.join(REPO_ROOT, "docs", "ruby.md")

  # The ```ruby blocks of the guide, keyed by heading (other fenced blocks are passed over).
  def self.blocks
    heading = nil
    blocks = []
    File.read(DOC).scan(/^#+ ([^\n]*)$|^```(\w*)\n(.*?)^```/m) do |title, language, code|
      next heading = title if title
      next unless language == "ruby"

      line = $~.pre_match.count("\n") + 2
      count = blocks.count { |b| b.key.sub(/ #\d+$/, "") == heading }
      blocks << DocBlock.new(count.zero? ? heading : "#{heading} ##{count + 1}", code, line)
    end
    blocks
  end

  BLOCKS = blocks.to_h { |block| [block.key, block] }

  # Evaluate `block` in a fresh object, with `constants` defined for it; its local variables.
  def evaluate(block, constants = {})
    sandbox = Object.new
    constants.each { |name, value| sandbox.singleton_class.const_set(name, value) }
    scope = sandbox.instance_eval("#{block.code}\nbinding", DOC, block.line)
    scope.local_variables.to_h { |name| [name, scope.local_variable_get(name)] }
  end

  def serve(app, &) = Spikard::Testing.serve(app, &)

  RUNNERS = {
    "Quick start" => lambda do |block|
      run_chat_program(block.code)
    end,

    "Handler forms" => lambda do |block|
      app = evaluate(block).fetch(:app)
      expect(app.routes.map(&:path)).to eq(%w[/echo /hello /chat /counter /shout /m])
      expect do
        serve(app) do |server|
          echo = server.connect("/echo")
          echo.send_json({ "any" => [1] })
          expect(echo.receive_json).to eq("any" => [1])

          hello = server.connect("/hello")
          hello.send_json({ "name" => "ada" })
          expect(hello.receive_json).to eq("hello, ada")
          hello.close(4000)

          chat = server.connect("/chat?user=ada")
          chat.send_json({ "text" => "hi" })
          expect(chat.receive_json).to eq("text" => "hi", "from" => "ada")
          chat.close(1000)

          counter = server.connect("/counter")
          2.times { counter.send_json({}) }
          expect([counter.receive_json, counter.receive_json]).to eq([{ "n" => 1 }, { "n" => 2 }])
          counter.send_json([])
          expect(counter.receive_json).to include("code" => "validation_failed")
          counter.close(1000)

          expect { server.connect("/shout") }.to raise_error(Spikard::Testing::Rejected) { |e| expect(e.status).to eq(401) }
          shout = server.connect("/shout?token=t")
          shout.send_json({ "text" => "hey" })
          expect(shout.receive_json).to eq("shout" => "HEY")
          shout.send_json({})
          expect(shout.receive_json).to include("code" => "validation_failed")
          shout.send_binary("abc")
          expect(shout.receive_data.to_h.slice(:type, :data)).to eq(type: :binary, data: "cba")

          callable = server.connect("/m")
          callable.send_json(7)
          expect(callable.receive_json).to eq("handled" => 7)
        end
      end.to output(/closed with 4000\n.*ada left \(1000\)\n.*counted to 2\n/m).to_stdout
    end,

    "Plain-text routes" => lambda do |block|
      app = evaluate(block).fetch(:app)
      expect(app.routes.first.raw_text?).to be(true)
      serve(app) do |server|
        client = server.connect("/shout")
        ["hello", '{"a": 1}', ""].each do |text|
          client.send_text(text)
          expect(client.receive_data.to_h.slice(:type, :data)).to eq(type: :text, data: text.upcase)
        end
      end
      expect { Spikard::App.new.websocket("/raw", raw_text: true, message_schema: { type: "string" }) { |m| m } }
        .to raise_error(Spikard::ConfigError, /raw-text route takes no message schema/) { |e| expect(e.code).to eq("invalid_config") }
    end,

    "Errors" => lambda do |block|
      scope = evaluate(block, PRICES: { "tea" => 2, "cake" => 3 })
      serve(scope.fetch(:app)) do |server|
        client = server.connect("/order")
        client.send_json({ "items" => %w[tea cake tea tea] })
        expect(client.receive_json).to include("code" => "handler_error", "message" => "at most 3 items")
        client.send_json({ "items" => ["caviar"] })
        expect(client.receive_json).to include("code" => "handler_error", "message" => "internal error")
        client.send_json({ "items" => %w[tea cake] })
        expect(client.receive_json).to eq("total" => 5)
      end
      expect(scope.fetch(:log).string)
        .to match(%r{\AE, .* ERROR -- spikard: handler of route /order raised .*key not found: "caviar" \(KeyError\)\n\tfrom })
    end,

    "Rooms" => lambda do |block|
      prose = File.read(DOC)[/`ROOM_MESSAGE` is `(\{.*?\})`/m, 1]
      schema = JSON.parse(prose.tr("\n", " "))
      page = File.join(REPO_ROOT, "examples", "chat")
      info = { title: "Spikard chat", version: "1.0.0" }
      # The topic schema as the chat example's AsyncAPI document has it.
      document = JSON.parse(File.read(File.join(REPO_ROOT, "fixtures", "asyncapi", "chat.json")))
      event = document.dig("components", "messages", "topic_room_", "payload")
      app = evaluate(block, PAGE: page, ROOM_MESSAGE: schema, ROOM_EVENT: event, INFO: info).fetch(:app)
      serve(app) do |server|
        index = Net::HTTP.get_response(URI("http://127.0.0.1:#{server.port}/"))
        expect([index.code, index.body]).to match(["200", include("<title>Spikard chat</title>")])
        ada = server.connect("/rooms/lobby?user=ada")
        expect(ada.receive_json).to eq("type" => "join", "user" => "ada", "room" => "lobby", "members" => 1)
        bob = server.connect("/rooms/lobby")
        joined = { "type" => "join", "user" => "anonymous", "room" => "lobby", "members" => 2 }
        expect([ada.receive_json, bob.receive_json]).to eq([joined, joined])
        bob.send_json({ "text" => "hello" })
        said = { "type" => "message", "user" => "anonymous", "room" => "lobby", "text" => "hello" }
        expect([ada.receive_json, bob.receive_json]).to eq([said, said])
        [{ "text" => "" }, { "text" => "x" * 501 }, { "text" => "hi", "extra" => 1 }].each do |invalid|
          ada.send_json(invalid)
          expect(ada.receive_json).to include("code" => "validation_failed")
        end
        bob.close(1000)
        expect(ada.receive_json).to eq("type" => "leave", "user" => "anonymous", "room" => "lobby", "members" => 1)
      end
    end,

    "Topic schemas" => lambda do |block|
      app = evaluate(block).fetch(:app)
      expect(app.topic_schemas.keys).to eq(["news*"])
      serve(app) do |server|
        reader = server.connect("/news/eu")
        writer = server.connect("/news/eu")
        writer.send_json({ "headline" => "x" * 61 })
        expect(writer.receive_json).to eq("refused" => "news/eu", "paths" => ["/headline"])
        writer.send_json({ "headline" => "Rain" })
        expect(writer.receive_json).to eq("headline" => "Rain")
        expect(writer.receive_json).to eq("delivered" => 2)
        # The refused headline reached nobody: the reader's first message is the accepted one.
        expect(reader.receive_json).to eq("headline" => "Rain")
        expect { app.publish("newsroom", { headline: 1 }) }.to raise_error(Spikard::PublishError) { |e|
          expect(e.message).to start_with(%(message published to "newsroom" does not match the topic's schema: /headline))
          expect([e.code, e.topic, e.errors.map(&:keyword)]).to eq(["publish_invalid", "newsroom", ["type"]])
        }
        expect(server.publish("sport", { anything: true })).to eq(0)
        expect(server.metrics[:publishes_refused]).to eq(2)
      end
    end,

    "Testing" => lambda do |block|
      instance_eval(block.code, DOC, block.line)
    end,

    "Compression" => lambda do |block|
      app = evaluate(block).fetch(:app)
      serve(app) do |server|
        expect(deflate_answer(server, "/feed")).to start_with("permessage-deflate")
        client = server.connect("/feed") # offers nothing: answered uncompressed
        client.send_json({ "n" => 1 })
        expect(client.receive_json).to eq("items" => [{ "n" => 1 }] * 100)
      end
    end,

    "Dispatch by message type" => lambda do |block|
      scope = evaluate(block)
      app = scope.fetch(:app)
      expect(app.routes.first.message_types).to eq(%w[join leave])
      expect(scope.fetch(:document)["channels"]["chat"]["messages"].keys).to include("join", "leave")
      serve(app) do |server|
        client = server.connect("/chat")
        client.send_json({ "type" => "join", "user" => "ann", "id" => 7 })
        expect(client.receive_json).to eq("joined" => "ann", "id" => 7)
        client.send_json({ "type" => "shout" })
        expect(client.receive_json["errors"].map { |e| e["message"] }).to eq(['value is not one of "join", "leave"'])
        client.send_json({ "type" => "leave" })
        expect(client.receive_json).to eq("left" => "ann")
      end
    end
  }.freeze

  it "has a runner for every Ruby block, and a block for every runner" do
    expect(BLOCKS.keys).to match_array(RUNNERS.keys)
  end

  BLOCKS.each_value do |block|
    it "runs the block under \"#{block.key}\" (line #{block.line})" do
      instance_exec(block, &RUNNERS.fetch(block.key))
    end
  end
end
