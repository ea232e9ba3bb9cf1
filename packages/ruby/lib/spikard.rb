# frozen_string_literal: true

require "logger"

require_relative "spikard/version"
begin
  # Built in the repository: `task -t tasks/ruby.yml build` copies the extension here.
  require_relative "spikard/spikard_native"
rescue LoadError
  # Installed as a gem: RubyGems put the compiled extension on the load path.
  require "spikard/spikard_native"
end
require_relative "spikard/errors"
require_relative "spikard/websocket"
require_relative "spikard/handler"
require_relative "spikard/route"
require_relative "spikard/server"
require_relative "spikard/app"

# Spikard: WebSocket routes in Ruby on a Rust core.
#
#   app = Spikard::App.new
#   app.websocket("/echo") { |message| message }
#   app.run(host: "127.0.0.1", port: 8000)
#
# Routing, JSON Schema validation, size limits, error envelopes and the sockets themselves live
# in the core; handlers are plain Ruby blocks or objects. See docs/ruby.md.
module Spikard
  # Build an app in a block: `Spikard.app { websocket("/echo") { |m| m } }`. A block with one
  # parameter receives the app instead of running inside it.
  #
  # @param options [Hash] passed to {App#initialize}
  # @return [App]
  def self.app(**options, &block)
    app = App.new(**options)
    return app unless block

    block.arity == 1 ? block.call(app) : app.instance_exec(&block)
    app
  end
end
