# frozen_string_literal: true

require_relative "spec_helper"
require "json"
require "net/http"
require "open3"
require "spikard/cli"

# Dispatch by message type (Route#on) and the AsyncAPI document (App#asyncapi, spikard-asyncapi).
# The core picks the branch and validates; these check what the gem adds: the DSL, the hooks
# beside the branches, the refusals at declaration, and the document.
RSpec.describe "dispatch by message type and AsyncAPI" do
  def serve(app, &block) = Spikard::Testing.serve(app, &block)

  let(:chat_rb) { File.join(REPO_ROOT, "examples", "ruby", "chat.rb") }
  let(:chat_document) { JSON.parse(File.read(File.join(REPO_ROOT, "fixtures", "asyncapi", "chat.json"))) }
  let(:info) { { "title" => "Spikard chat", "version" => "1.0.0" } }

  it "runs each type's block, with the route's hooks, and on for a route already dispatching" do
    events = Queue.new
    app = Spikard::App.new
    route = app.websocket("/chat", discriminator: :kind) do
      on_connect { |_ws| events << :connect }
      on(:join, schema: { type: "object", required: ["user"] }) { |message, ws| { joined: message["user"], path: ws.path } }
      on_disconnect { |_ws, close| events << close.code }
    end
    route.on("leave", ->(_message) { { left: true } })
    expect(route.message_types).to eq(%w[join leave])
    expect(route).to be_dispatch
    serve(app) do |server|
      client = server.connect("/chat")
      client.send_json({ kind: "join", user: "ann", id: "r1" })
      expect(client.receive_json).to eq("joined" => "ann", "path" => "/chat", "id" => "r1")
      client.send_json({ kind: "leave" })
      expect(client.receive_json).to eq("left" => true)
      client.send_json({ kind: "join" })
      expect(client.receive_json).to include("code" => "validation_failed")
      client.send_json({ type: "join", user: "ann" })
      expect(client.receive_json["errors"].map { |e| e["message"] }).to eq(['"kind" is a required property, one of "join", "leave"'])
      client.close(1000)
    end
    expect([events.pop, events.pop]).to eq([:connect, 1000])
  end

  it "dispatches a Spikard::Handler subclass's types, blocks run on the instance, with its hooks" do
    base = Class.new(Spikard::Handler) do
      on(:ping, description: "Ping") { |_message, ws| { pong: ws.state[:name] } }
    end
    handler = Class.new(base) do
      on :join, schema: { type: "object", required: ["user"] } do |message, ws|
        ws.state[:name] = greet(message["user"])
        { joined: ws.state[:name] }
      end
      def on_connect(ws) = ws.state[:name] = "nobody"
      def greet(user) = user.upcase
    end
    app = Spikard::App.new
    route = app.websocket("/h", handler)
    expect(route.message_types).to eq(%w[ping join])
    serve(app) do |server|
      client = server.connect("/h")
      client.send_json({ type: "ping" })
      expect(client.receive_json).to eq("pong" => "nobody")
      client.send_json({ type: "join", user: "ann" })
      expect(client.receive_json).to eq("joined" => "ANN")
    end
    both = Class.new(handler) { def on_message(message, _ws) = message }
    expect { Spikard::App.new.websocket("/x", both) }.to raise_error(Spikard::ConfigError, /message handler/)
  end

  it "keeps a binary handler on a dispatching route" do
    app = Spikard::App.new
    app.websocket("/mixed") do
      on(:text) { |message| { got: message["type"] } }
      on_binary { |data, _ws| data.reverse }
    end
    serve(app) do |server|
      client = server.connect("/mixed")
      client.send_binary("abc".b)
      frame = client.receive_data
      expect([frame.type, frame.data]).to eq([:binary, "cba".b])
      client.send_json({ type: "text" })
      expect(client.receive_json).to eq("got" => "text")
    end
  end

  it "refuses at declaration what the core would refuse at start" do
    app = Spikard::App.new
    expect { app.websocket("/a") { on_message { |m| m }; on(:x) { |m| m } } }
      .to raise_error(Spikard::ConfigError, /takes no message handler/)
    expect { app.websocket("/b", message_schema: { type: "object" }) { on(:x) { |m| m } } }
      .to raise_error(Spikard::ConfigError) { |e| expect(e.code).to eq("invalid_config") }
    expect { app.websocket("/c") { on(:x) { |m| m }; on("x") { |m| m } } }.to raise_error(Spikard::ConfigError, /twice/)
    expect { app.websocket("/d") { on(:x, schema: { type: "nope" }) { |m| m } } }.to raise_error(Spikard::SchemaError)
    expect(app.routes).to be_empty
  end

  it "App#asyncapi of examples/ruby/chat.rb equals fixtures/asyncapi/chat.json" do
    # The example calls app.run at its end: here that only records the app.
    app = nil
    allow_any_instance_of(Spikard::App).to receive(:run) { |instance, **| app = instance } # rubocop:disable RSpec/AnyInstance
    load(chat_rb, true) # wrapped: its constants stay out of Object
    expect(app).to be_a(Spikard::App)
    expect(app.asyncapi(info)).to eq(chat_document)
  end

  it "spikard-asyncapi prints the chat example's document, and names what it cannot find" do
    exe = File.expand_path("../exe/spikard-asyncapi", __dir__)
    out, status = Open3.capture2(RbConfig.ruby, exe, "--title", "Spikard chat", "--version", "1.0.0", chat_rb)
    expect(status).to be_success
    expect(JSON.parse(out)).to eq(chat_document)
    # Without --title/--version: the info of the app's `asyncapi:` option.
    out, status = Open3.capture2(RbConfig.ruby, exe, chat_rb)
    expect([status, JSON.parse(out)]).to match([be_success, chat_document])
    _, err, status = Open3.capture3(RbConfig.ruby, exe, "nope.rb")
    expect([status.exitstatus, err]).to eq([1, "spikard-asyncapi: no such file: nope.rb\n"])
  end

  it "serves the document over HTTP with the asyncapi option, and refuses a WebSocket route's path" do
    app = Spikard::App.new(asyncapi: { path: "/asyncapi.json", info: { title: "T", version: "2" } })
    app.websocket("/chat") { on(:ping) { |_m| { pong: true } } }
    expect(app.asyncapi["info"]).to eq("title" => "T", "version" => "2")
    serve(app) do |server|
      response = Net::HTTP.get_response(URI("http://127.0.0.1:#{server.port}/asyncapi.json"))
      expect([response.code, JSON.parse(response.body)]).to eq(["200", app.asyncapi])
    end
    clash = Spikard::App.new(asyncapi: { path: "/chat" })
    clash.websocket("/chat") { |m| m }
    expect { clash.start }.to raise_error(Spikard::ConfigError) { |e| expect(e.code).to eq("invalid_config") }
  end

  it "describes a plain route, topics and descriptions; defaults the info" do
    app = Spikard::App.new
    app.topic("news", schema: { type: "object" })
    app.websocket("/rooms/{room}", message_schema: { type: "object" }, description: "Rooms") { |m| m }
    document = app.asyncapi
    expect(document["info"]).to eq("title" => "Spikard app", "version" => "0.0.0")
    expect(document["asyncapi"]).to eq("3.0.0")
    channel = document["channels"].values.first
    expect(channel).to include("address" => "/rooms/{room}", "description" => "Rooms")
    expect(channel["parameters"].keys).to eq(["room"])
  end

  it "takes response_schema: false for a route that never replies: no reply in the document, a reply is dropped" do
    log = StringIO.new
    app = Spikard::App.new(logger: Logger.new(log))
    app.websocket("/feed", response_schema: false) { |message| message["reply"] ? { got: message } : nil }
    expect(app.routes.first.response_schema).to be(false)
    document = app.asyncapi
    expect(document.dig("channels", "feed", "messages").keys).to eq(["message", "error"])
    expect(document.dig("operations", "feed.message", "reply", "messages")).to eq([{ "$ref" => "#/channels/feed/messages/error" }])
    serve(app) do |server|
      client = server.connect("/feed")
      client.send_json({ "reply" => true }) # refused by the schema `false`: logged, never sent
      client.send_text("not json")
      expect(client.receive_json).to include("code" => "invalid_json")
    end
    expect(log.string).to include("reply failed the response schema; dropped route=/feed")
  end
end
