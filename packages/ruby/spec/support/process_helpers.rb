# frozen_string_literal: true

require "open3"
require "timeout"

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
  # and wait for its "listening" line.
  def spawn_server(file, env: {})
    env = { "PORT" => "0", "SPIKARD_PORT" => "0" }.merge(env)
    stdin, stdout, stderr, waiter = Open3.popen3(env, RbConfig.ruby, "-I", LIB, file)
    stdin.close
    line = Timeout.timeout(15) { stderr.gets }
    port = line && line[%r{listening on ws://[^:]+:(\d+)/}, 1]
    raise "#{file} did not start: #{line}#{stderr.read unless waiter.alive?}" unless port

    Child.new(waiter.pid, Integer(port), stdout, stderr, waiter)
  end

  # The fenced ```ruby blocks of a Markdown file.
  def ruby_blocks(markdown)
    markdown.scan(/^```ruby\n(.*?)^```/m).flatten
  end
end

RSpec.configure { |config| config.include ProcessHelpers }
