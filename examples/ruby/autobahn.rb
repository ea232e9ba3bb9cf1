# frozen_string_literal: true

# The Ruby server `task autobahn` runs Autobahn|Testsuite against: `/echo` is a raw-text route
# that sends every message back as it came (text as text, binary as binary), with a 16 MiB limit
# so the large-message cases (9.*) run, and permessage-deflate on for every message (threshold 0)
# so the compression cases (12.*, 13.*) run.
#
#   ruby -Ipackages/ruby/lib examples/ruby/autobahn.rb   prints `READY <port>` once bound
#
# SPIKARD_HOST and SPIKARD_PORT override the address (default 127.0.0.1, port 0: a free one).
# SIGTERM or Ctrl-C closes every connection with 1001 and exits.
require "spikard"

# Compression for every message, however small: threshold 0 (the default leaves messages under
# 1 KiB uncompressed), so that Autobahn's 12.* and 13.* exercise it.
app = Spikard::App.new(max_message_size: 16 * 1024 * 1024, compression: { threshold: 0 })
# A text message arrives as a UTF-8 String and goes back as that text; a binary one arrives as a
# binary String and goes back as a binary frame.
app.websocket("/echo", raw_text: true, binary: true) { |message| message }
app.run(host: ENV.fetch("SPIKARD_HOST", "127.0.0.1"), port: Integer(ENV.fetch("SPIKARD_PORT", "0"))) do |server|
  $stdout.puts("READY #{server.port}")
  $stdout.flush
end
