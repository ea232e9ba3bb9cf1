# frozen_string_literal: true

# Echo server: every JSON message comes back unchanged.
#
#   ruby -Ipackages/ruby/lib examples/ruby/echo.rb   then connect to ws://127.0.0.1:8000/echo
#
# SPIKARD_HOST and SPIKARD_PORT override the address (port 0 picks a free one). Ctrl-C (or
# SIGTERM) closes every connection with 1001 and exits.
require "spikard"

app = Spikard::App.new
app.websocket("/echo") { |message| message }
app.run(host: ENV.fetch("SPIKARD_HOST", "127.0.0.1"), port: Integer(ENV.fetch("SPIKARD_PORT", "8000")))
