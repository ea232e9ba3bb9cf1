# frozen_string_literal: true

module Spikard
  # A Spikard application: WebSocket routes and app-wide settings.
  #
  #   app = Spikard::App.new
  #   app.websocket("/chat", message_schema: { type: "object", required: ["text"] }) do |message, ws|
  #     { echo: message["text"] }
  #   end
  #   app.run(host: "127.0.0.1", port: 8000)
  class App
    # @return [Array<Route>] the registered routes, in registration order
    attr_reader :routes
    # @return [Hash{String => Hash}] the declared topic schemas, by pattern (see {#topic})
    attr_reader :topic_schemas
    # @return [Logger] where handlers' unexpected exceptions (with their backtraces) and the
    #   core's events (a reply dropped by its schema, a slow client closed) are logged
    attr_reader :logger

    # @param max_message_size [Integer, nil] largest accepted message in bytes (default 1 MiB);
    #   larger messages close the connection with 1009
    # @param outgoing_queue [Integer, nil] messages queued per connection before a client that
    #   does not read is closed with 1013 (default 1024)
    # @param outgoing_queue_bytes [Integer, nil] payload bytes queued per connection before a
    #   reply or push closes a client that does not read with 1013 (default 4 MiB)
    # @param ping_interval [Numeric, nil] seconds between the server's pings (default 25; 0 sends
    #   none)
    # @param ping_timeout [Numeric, nil] seconds a ping waits for its pong before the connection
    #   is closed with 1011 (default 20)
    # @param idle_timeout [Numeric, nil] seconds without a message from the client before it is
    #   closed with 1001 (default nil: never); pongs do not count
    # @param read_buffer_size [Integer, nil] bytes of each connection's read buffer (default 2 KiB)
    # @param handshake_timeout [Numeric, nil] seconds a client has to send its request head and
    #   `on_connect` has to finish (default 10; the socket is closed, or HTTP 503 for `on_connect`)
    # @param max_request_head [Integer, nil] bytes of the upgrade request's head (default 16 KiB;
    #   HTTP 431 past it)
    # @param max_header_size [Integer, nil] bytes of one request header (default 8 KiB; HTTP 431)
    # @param max_connections [Integer, nil] WebSocket connections open at once (default 10,000);
    #   past it an upgrade gets HTTP 503 before `on_connect`
    # @param allowed_origins [Array<String>, nil] when given, only upgrades whose `Origin` header
    #   is one of these (ASCII case ignored) are accepted; others, and those without one, get
    #   HTTP 403 before `on_connect` (default: any origin)
    # @param drain_timeout [Numeric, nil] seconds graceful shutdown waits for connections
    #   (default 10)
    # @param fanout_flush_interval [Numeric, nil] the longest, in seconds, that a subscriber's
    #   published messages are held while some connection is still handling messages that were
    #   already waiting (default 0.001; 0 holds nothing); replies and sends are never held
    # @param static_dir [String, nil] serve these files on every non-WebSocket path
    # @param pubsub [String, nil] share rooms with every other server (process, machine,
    #   language) using the same backend: a Redis URL such as `"redis://127.0.0.1:6379/0"`, or
    #   `"local"` (default, unless the `SPIKARD_PUBSUB` environment variable names one); see
    #   docs/scaling.md
    # @param reuse_port [Boolean] bind with `SO_REUSEPORT`, so that several processes serve one
    #   port (default false)
    # @param threads [Integer] Ruby threads running handlers (default 4, like Action Cable's worker
    #   pool: a handler that blocks holds up only its own thread; see docs/ruby.md, "Threads")
    # @param workers [Integer] tokio threads serving the sockets
    # @param asyncapi [Hash, nil] serve the app's AsyncAPI document (see {#asyncapi}) over HTTP:
    #   `{path: "/asyncapi.json", info: {title: "Chat", version: "1.0.0"}}` answers `GET` and
    #   `HEAD` on `path` with the document, built by the core once when the server starts
    #   (`info` optional; a path that is also a WebSocket route raises {ConfigError} at start).
    #   Off by default. Its `info` is also {#asyncapi}'s default.
    # @param compression [Boolean, Hash, nil] negotiate permessage-deflate (RFC 7692) with
    #   clients that offer it (every browser does): `true` with the defaults, or
    #   `{threshold: 256, server_context_takeover: true, level: 6}` (each key optional). `threshold`
    #   (default 1024): the messages the server sends (replies, pushes, published messages) of at
    #   least this many bytes go out compressed, smaller ones as they are (0: every message).
    #   `server_context_takeover` (default false): keep the server's compressor from one message
    #   to the next, for better ratios at about 260 KiB per connection. `level` (default 1, the
    #   fastest): zlib level 0 to 9 of what the server compresses. Off by default (nil or
    #   false): it costs CPU per message and memory per connection, and secrets compressed with
    #   input an attacker chooses can leak (CRIME/BREACH). Limits and schemas apply to the
    #   inflated message. An invalid value raises {ConfigError} at start. See docs/ruby.md,
    #   "Compression".
    # @param logger [Logger] any `Logger` (`Rails.logger`, `Logger.new($stdout)`); by default
    #   `INFO` and above (the listening line of {#run}, warnings, errors) go to stderr
    def initialize(max_message_size: nil, outgoing_queue: nil, read_buffer_size: nil, handshake_timeout: nil,
                   max_request_head: nil, max_header_size: nil, max_connections: nil, allowed_origins: nil,
                   drain_timeout: nil, static_dir: nil, threads: 4, workers: 1, fanout_flush_interval: nil,
                   outgoing_queue_bytes: nil, ping_interval: nil, ping_timeout: nil, idle_timeout: nil,
                   pubsub: nil, reuse_port: false, asyncapi: nil, compression: nil,
                   logger: Logger.new($stderr, level: Logger::INFO))
      @options = {
        max_message_size: max_message_size, outgoing_queue: outgoing_queue, read_buffer_size: read_buffer_size,
        max_request_head: max_request_head, max_header_size: max_header_size, max_connections: max_connections,
        allowed_origins: allowed_origins&.map(&:to_s), handshake_timeout: handshake_timeout&.to_f,
        drain_timeout: drain_timeout&.to_f, fanout_flush_interval: fanout_flush_interval&.to_f,
        outgoing_queue_bytes: outgoing_queue_bytes, ping_interval: ping_interval&.to_f,
        ping_timeout: ping_timeout&.to_f, idle_timeout: idle_timeout&.to_f,
        static_dir: static_dir&.to_s, pubsub: pubsub&.to_s,
        reuse_port: reuse_port ? true : nil, asyncapi: asyncapi, compression: compression
      }.compact
      @workers = Integer(workers)
      @threads = Integer(threads)
      raise ConfigError.new("threads must be at least 1", "invalid_config") if @threads < 1

      @logger = logger
      @on_startup = []
      @on_shutdown = []
      @routes = []
      @topic_schemas = {}.freeze
    end

    # Declare the JSON Schema of the messages published to the topics `pattern` matches: a topic
    # name (`"news"`), or a prefix followed by one `*` (`"news*"` matches `news`, `newsroom` and
    # `news/eu`). Every publish to a matching topic (from {WebSocket#publish},
    # {WebSocket#publish_others}, {#publish} or {Server#publish}) is validated once, in the core,
    # before fan-out; a failing message is queued for nobody and the call raises
    # {PublishError}. When several patterns match, an exact name beats a prefix and a longer
    # prefix beats a shorter one. In a {Spikard.app} block: `topic "news*", schema: {...}`.
    #
    # @param pattern [String]
    # @param schema [Hash, Boolean] a JSON Schema (String or Symbol keys), checked now
    # @return [self]
    # @raise [SchemaError] for a schema that does not compile
    # @raise [ConfigError] for a bad pattern or a pattern declared twice
    def topic(pattern, schema:)
      declared = @topic_schemas.to_a.push([String(pattern), schema])
      Native.check_topics(declared)
      @topic_schemas = declared.to_h.freeze
      self
    end

    # Register a WebSocket route and return it.
    #
    # The handler is a block `|message, ws|`, a callable, a {Handler} subclass or instance, or
    # any object with `on_message(message, ws)`. A block without parameters declares the route
    # instead: `websocket("/chat") { on_connect { |ws| ... }; on_message { |m, ws| ... } }`.
    # Hooks may also be given as options (`on_connect:`, `on_disconnect:`, `on_binary:`) or
    # added to the returned {Route}. Schemas are Hashes with String or Symbol keys, checked now.
    #
    # A route that dispatches by message type declares each type in its block with
    # {Route::Builder#on}: `websocket("/chat") { on(:join, schema: {...}) { |msg, ws| ... } }`
    # (see {Route#on}).
    #
    # @param path [String] e.g. `/chat` or `/rooms/{room}`
    # @param handler [Object, nil]
    # @param options [Hash] see {Route#initialize}
    # @return [Route]
    # @raise [SchemaError] for a schema that does not compile
    # @raise [ConfigError] for a path registered twice
    def websocket(path, handler = nil, **options, &block)
      if @routes.any? { |route| route.path == path }
        raise ConfigError.new("route #{path}: a route with this path is already registered", "duplicate_route")
      end

      route = Route.new(path, handler, **options, &block)
      @routes << route
      route
    end

    # The app's AsyncAPI 3.0 document, built by the core from the routes and options exactly as
    # {#start} passes them: a channel per route (with its path parameters), a receive operation
    # per message type (one for a route that does not dispatch), a send operation per reply,
    # the error envelope, the topic schemas, and the descriptions given to {#websocket} and
    # {Route#on}. The same routes give the same document in every language.
    #
    #   app.asyncapi("title" => "Spikard chat", "version" => "1.0.0")
    #
    # @param info [Hash, nil] the document's Info Object (`title` defaults to `"Spikard app"`,
    #   `version` to `"0.0.0"`); nil takes the `info` of the `asyncapi:` option, if any
    # @return [Hash{String => Object}] the document (String keys, in the document's order);
    #   `JSON.pretty_generate` prints it
    # @raise [SchemaError, ConfigError] what starting the app would raise for its routes
    def asyncapi(info = nil)
      info ||= @options[:asyncapi]&.then { |option| option[:info] || option["info"] } || {}
      Native.asyncapi(@routes.map(&:spec), @options.merge(topics: @topic_schemas.to_a), info)
    end

    # Run `block` (no parameters) each time the app starts, before it binds, after the blocks
    # registered before it. One that raises stops the start (the port is never opened).
    # In a {Spikard.app} block: `on_startup { DB.connect }`.
    # @return [self]
    def on_startup(&block)
      @on_startup << block
      self
    end

    # Run `block` (no parameters) once a started server has stopped (every connection closed,
    # every `on_disconnect` run), after the blocks registered before it. One that raises is
    # logged and the next still runs.
    # @return [self]
    def on_shutdown(&block)
      @on_shutdown << block
      self
    end

    # Bind and start serving in the background.
    # @param host [String]
    # @param port [Integer] 0 picks a free port (see {Server#port})
    # @return [Server]
    # @raise [BindError, ConfigError, SchemaError]
    def start(host: "127.0.0.1", port: 0)
      @on_startup.each(&:call)
      options = @options.merge(topics: @topic_schemas.to_a)
      native = Native::Server.start(@routes.map(&:spec), options, host.to_s, Integer(port), @workers)
      @server = Server.new(native, @routes, threads: @threads, logger: @logger, on_shutdown: @on_shutdown.dup)
    end

    # Publish `message` to every subscriber of `topic` on the running server (see
    # {Server#publish}).
    # @param topic [String]
    # @param message [Object] a JSON value
    # @return [Integer] the number of connections it was queued for
    # @raise [ServerError] when the app is not running
    # @raise [PublishError] when the message does not match its topic's schema
    def publish(topic, message)
      raise ServerError.new("the app is not running; start or run it first", "not_running") unless @server

      @server.publish(topic, message)
    end

    # Serve until SIGINT (Ctrl-C) or SIGTERM, then shut down gracefully: every connection is
    # closed with 1001 and its `on_disconnect` runs before this returns. Once bound and with the
    # signal traps in place, logs `spikard listening on ws://HOST:PORT/` on the app's logger
    # (`INFO`, progname `spikard`).
    # @param host [String]
    # @param port [Integer]
    # @yieldparam server [Server] the running server, once bound (e.g. to print {Server#port}
    #   when port 0 was asked for); the signal traps are already in place
    # @return [void]
    def run(host: "127.0.0.1", port: 8000)
      server = start(host: host, port: port)
      previous = %w[INT TERM].to_h { |signal| [signal, trap(signal) { server.shutdown }] }
      @logger.info("spikard") { "spikard listening on #{server.url}" }
      yield server if block_given?
      server.wait
    ensure
      previous&.each { |signal, handler| trap(signal, handler || "DEFAULT") }
      server&.stop
    end
  end
end
