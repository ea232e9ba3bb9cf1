# frozen_string_literal: true

require "open3"
require "timeout"
require "tmpdir"

# Runs a Ruby program that calls `App#run` in a child process, on a free port, and stops it
# with a signal the way a person would with Ctrl-C.
module ProcessHelpers
  LIB = File.expand_path("../../lib", __dir__)

  # A child process serving on `port`; `output` holds what it printed once it ended.
  Child = Struct.new(:pid, :port, :stdout, :stderr, :waiter) do
    # Send `signal` (as Ctrl-C would).
    def signal(name = "INT") = Process.kill(name, pid)

    # Wait for the exit status (at most 15 s).
    def exit_status = Timeout.timeout(15) { waiter.value }

    def url(path) = "ws://127.0.0.1:#{port}#{path}"
  end

  # Start `ruby -I lib file` with PORT=0 and SPIKARD_PORT=0 (the examples read one or the other)
  # and wait for its "listening" line. `load_path: nil` leaves lib out (an installed gem).
  def spawn_server(file, env: {}, load_path: LIB)
    env = { "PORT" => "0", "SPIKARD_PORT" => "0" }.merge(env)
    stdin, stdout, stderr, waiter = Open3.popen3(env, RbConfig.ruby, *(["-I", load_path] if load_path), file)
    stdin.close
    line = Timeout.timeout(15) { stderr.gets }
    port = line && line[%r{listening on ws://[^:]+:(\d+)/}, 1]
    raise "#{file} did not start: #{line}#{stderr.read unless waiter.alive?}" unless port

    Child.new(waiter.pid, Integer(port), stdout, stderr, waiter)
  end

  # Run `code`, a program that calls `app.run(..., port: N)`, on a free port (N becomes 0); it
  # must serve the design document's `/chat`. Stopped with SIGINT, it must close with 1001 and
  # exit cleanly. `env` and `load_path` go to {#spawn_server}.
  def run_chat_program(code, env: {}, load_path: LIB)
    Dir.mktmpdir do |dir|
      program = File.join(dir, "snippet.rb")
      File.write(program, code.gsub(/port: \d+/, "port: 0"))
      child = spawn_server(program, env: env, load_path: load_path)
      client = Spikard::Testing::Client.connect(child.url("/chat"))
      client.send_json({ "text" => "hi" })
      expect(client.receive_json).to include("code" => "validation_failed", "errors" => [include("path" => "/user")])
      client.send_json({ "text" => "hi", "user" => "ada" })
      expect(client.receive_json).to eq("echo" => "hi", "from" => "ada")
      child.signal("INT")
      expect(client.receive_data.code).to eq(1001)
      expect(child.exit_status).to be_success
    end
  end

  # The fenced ```ruby blocks of a Markdown file.
  def ruby_blocks(markdown)
    markdown.scan(/^```ruby\n(.*?)^```/m).flatten
  end
end

RSpec.configure { |config| config.include ProcessHelpers }
