# frozen_string_literal: true

require_relative "spec_helper"
require "net/http"

# The examples and the README's snippet, run as a person would: as programs, on a real port,
# stopped with a signal (docs/ruby.md's blocks are run by docs_spec.rb).
RSpec.describe "examples and documentation" do
  let(:examples) { File.join(REPO_ROOT, "examples", "ruby") }

  it "echo.rb echoes and exits cleanly on SIGTERM, closing clients with 1001" do
    child = spawn_server(File.join(examples, "echo.rb"))
    client = Spikard::Testing::Client.connect(child.url("/echo"))
    client.send_json({ "hello" => ["world", 1] })
    expect(client.receive_json).to eq("hello" => ["world", 1])
    child.signal("TERM")
    expect(client.receive_data.code).to eq(1001)
    expect(child.exit_status).to be_success
  end

  it "chat.rb serves the shared chat protocol in rooms, /chat by message type and the page, and stops on SIGINT" do
    child = spawn_server(File.join(examples, "chat.rb"))
    expect(Timeout.timeout(5) { child.stdout.gets }).to include("http://127.0.0.1:#{child.port}/")
    page = Net::HTTP.get_response(URI("http://127.0.0.1:#{child.port}/"))
    expect([page.code, page.body]).to match(["200", include("<title>Spikard chat</title>")])
    # The `asyncapi:` option: the document the other languages' chat examples serve.
    served = Net::HTTP.get_response(URI("http://127.0.0.1:#{child.port}/asyncapi.json"))
    expect([served.code, served["content-type"]]).to eq(["200", "application/json"])
    expect(JSON.parse(served.body)).to eq(JSON.parse(File.read(File.join(REPO_ROOT, "fixtures", "asyncapi", "chat.json"))))

    alice = Spikard::Testing::Client.connect(child.url("/rooms/lobby?user=alice"))
    expect(alice.receive_json).to eq("type" => "join", "user" => "alice", "room" => "lobby", "members" => 1)
    bob = Spikard::Testing::Client.connect(child.url("/rooms/lobby?user=bob"))
    joined = { "type" => "join", "user" => "bob", "room" => "lobby", "members" => 2 }
    expect([alice.receive_json, bob.receive_json]).to eq([joined, joined])
    elsewhere = Spikard::Testing::Client.connect(child.url("/rooms/attic"))
    expect(elsewhere.receive_json).to eq("type" => "join", "user" => "anonymous", "room" => "attic", "members" => 1)

    alice.send_json({ "text" => "hello" })
    hello = { "type" => "message", "user" => "alice", "room" => "lobby", "text" => "hello" }
    expect([alice.receive_json, bob.receive_json]).to eq([hello, hello])
    # No direct reply: the next thing alice gets is bob's message, once.
    bob.send_json({ "text" => "hi" })
    hi = { "type" => "message", "user" => "bob", "room" => "lobby", "text" => "hi" }
    expect([alice.receive_json, bob.receive_json]).to eq([hi, hi])
    # Rooms are kept apart: the attic heard nothing of the lobby.
    elsewhere.send_json({ "text" => "anyone?" })
    expect(elsewhere.receive_json).to eq("type" => "message", "user" => "anonymous", "room" => "attic", "text" => "anyone?")

    [{ "text" => "" }, { "text" => "x" * 501 }, { "text" => "hi", "user" => "mallory" }, {}].each do |invalid|
      alice.send_json(invalid)
      expect(alice.receive_json).to include("type" => "error", "code" => "validation_failed")
    end

    # /chat dispatches by type, as examples/rust/chat.rs does.
    echo = Spikard::Testing::Client.connect(child.url("/chat"))
    echo.send_json({ "type" => "say", "text" => "hi" })
    expect(echo.receive_json).to include("code" => "validation_failed", "errors" => [include("path" => "/user")])
    echo.send_json({ "text" => "hi", "user" => "ada" })
    expect(echo.receive_json).to include("code" => "validation_failed", "errors" => [include("path" => "/type")])
    echo.send_json({ "type" => "join", "user" => "ada", "id" => 1 })
    expect(echo.receive_json).to eq("joined" => "ada", "id" => 1)
    echo.send_json({ "type" => "say", "text" => "hi", "user" => "ada" })
    expect(echo.receive_json).to eq("echo" => "hi", "from" => "ada")
    echo.send_json({ "type" => "leave" })
    expect(echo.receive_json).to eq("left" => true)

    bob.close(1000)
    expect(alice.receive_json).to eq("type" => "leave", "user" => "bob", "room" => "lobby", "members" => 1)
    child.signal("INT")
    expect([alice, elsewhere, echo].map { |client| client.receive_data.code }).to eq([1001, 1001, 1001])
    expect(child.exit_status).to be_success
  end

  it "the Rooms snippet of docs/ruby.md is still the code of chat.rb" do
    rooms = File.read(File.join(REPO_ROOT, "docs", "ruby.md"))[/^## Rooms\n.*?(?=^## )/m]
    snippet = ruby_blocks(rooms.to_s).first
    expect(snippet).not_to be_nil, "docs/ruby.md has no ```ruby block under ## Rooms"
    example = File.readlines(File.join(examples, "chat.rb"), chomp: true)
    expect(snippet.lines(chomp: true).reject(&:empty?) - example).to eq([])
  end

  it "runs the Ruby example of the README" do
    readme = File.join(REPO_ROOT, "README.md")
    snippet = ruby_blocks(File.read(readme)).first
    skip "README.md has no Ruby example yet" unless snippet

    run_chat_program(snippet)
  end
end
