# frozen_string_literal: true

module Spikard
  # A running server, returned by {App#start}. The sockets are served by the core on its own
  # threads with the GVL released; handlers run on the dispatcher threads this object owns.
  class Server
    # @return [Array<Thread>] the Ruby threads that run handlers
    attr_reader :dispatchers

    # @return [Logger] where handlers' unexpected exceptions and the core's events are logged
    attr_reader :logger

    # @api private
    # @param native [Native::Server]
    # @param routes [Array<Route>]
    # @param threads [Integer] dispatcher threads
    # @param logger [Logger]
    # @param on_shutdown [Array<#call>] run once, when {#wait} first sees the server stopped
    def initialize(native, routes, threads:, logger:, on_shutdown: [])
      @native = native
      @logger = logger
      @on_shutdown = on_shutdown
      @shutdown_hooks = Mutex.new
      callables = routes.map(&:callables).freeze
      connections = {} # each open connection's WebSocket, by id, kept by the dispatchers
      @dispatchers = Array.new(threads) do |index|
        Thread.new(index) do |i|
          Thread.current.name = "spikard-dispatch-#{i}"
          native.dispatch(callables, self, connections)
        end
      end
    end

    # @return [String] the bound address
    def host = @native.local_addr[0]

    # @return [Integer] the bound port (the real one when port 0 was asked for)
    def port = @native.local_addr[1]

    # @param path [String]
    # @return [String] a `ws://` URL for `path` on this server
    def url(path = "/")
      host = self.host.include?(":") ? "[#{self.host}]" : self.host
      "ws://#{host}:#{port}#{path}"
    end

    # Start a graceful shutdown and return at once: stop accepting, close every connection with
    # 1001 and run every `on_disconnect`. Safe to call from a signal trap.
    # @return [void]
    def shutdown
      @native.shutdown
    end

    # Block until the server has stopped (or `timeout` seconds passed) and every handler and
    # hook has run. Other Ruby threads keep running meanwhile, and signal traps run: this joins
    # the dispatcher threads, which end once the server has stopped.
    # @param timeout [Numeric, nil]
    # @return [Boolean] true when the server has stopped
    # @raise [ServerError] when the server stopped because it failed
    # @raise [Exception] what killed a dispatcher thread (`Thread#raise` on it), after the rest
    def wait(timeout = nil)
      deadline = timeout && Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
      failure = nil
      @dispatchers.each do |thread|
        left = deadline && [deadline - Process.clock_gettime(Process::CLOCK_MONOTONIC), 0].max
        return false unless thread.join(left)
      rescue Exception => e # rubocop:disable Lint/RescueException -- re-raised below
        raise if thread.alive? # not the dispatcher's own exception (e.g. Interrupt here)

        failure ||= e
      end
      run_shutdown_hooks
      raise failure if failure

      @native.check
      true
    end

    # Shut down gracefully and wait until every connection is closed and every hook has run.
    # From inside a handler call {#shutdown} instead: handlers must return for the server to stop.
    # @return [self]
    # @raise [ThreadError] when called on one of the server's dispatcher threads
    def stop
      raise ThreadError, "Server#stop waits for handlers to return; call #shutdown from a handler" if @dispatchers.include?(Thread.current)

      shutdown
      wait
      self
    end

    # @return [Boolean]
    def stopped? = @native.stopped?

    # Record every message published to `topic` from now on, whoever publishes it (a handler's
    # `ws.publish`, {#publish}, a room nobody is in), for tests: Action Cable's
    # `assert_broadcast_on`. A publish the topic's schema refused is not recorded. With a block,
    # records while it runs and returns the messages; without, returns the {PublishCapture}.
    # @param topic [String]
    # @return [Array, PublishCapture]
    def capture(topic)
      capture = PublishCapture.new(topic.to_s, @native.capture(topic.to_s))
      return capture unless block_given?

      begin
        yield
      ensure
        capture.stop
      end
      capture.messages
    end

    # Publish `message` to every connection subscribed to `topic` (see {WebSocket#subscribe}),
    # from any thread. Serialised once in the core.
    # @param topic [String]
    # @param message [Object] a JSON value
    # @return [Integer] the number of connections it was queued for
    # @raise [PublishError] when the message does not match its topic's schema ({App#topic})
    def publish(topic, message) = @native.publish(topic.to_s, message)

    # @param topic [String]
    # @return [Integer] how many connections are subscribed to `topic` now
    def topic_count(topic) = @native.topic_count(topic.to_s)

    # @return [Array<String>] every topic with at least one subscriber
    def topics = @native.topics

    # The core's counters: connections accepted, rejected and active, messages received,
    # invalid JSON, validation failures, handler errors, replies dropped, slow consumers closed,
    # publishes refused by a topic schema.
    # @return [Hash{Symbol => Integer}]
    def metrics = @native.metrics.transform_keys(&:to_sym)

    private

    # The core's log levels as Logger severities (trace is debug).
    LEVELS = { "error" => Logger::ERROR, "warn" => Logger::WARN, "info" => Logger::INFO }.freeze
    private_constant :LEVELS

    # Called by the dispatchers: what `exception`, raised by `what` (`"on_connect"`, `"handler"`
    # or `"on_disconnect"`) of `route`, means for the client. A {Rejection} from on_connect is
    # its `[status, message]`, a {HandlerError} from a handler its message. Anything else is
    # unexpected: logged with its backtrace, and nil (the client is told "internal error").
    def failed(what, route, exception)
      return [exception.status, exception.message] if what == "on_connect" && exception.is_a?(Rejection)
      return exception.message if what == "handler" && exception.is_a?(HandlerError)

      log(Logger::ERROR, "spikard") { "#{what} of route #{route} raised #{exception.full_message(highlight: false)}" }
      nil
    end

    # Called by the dispatchers with a record of the core: its level (`"warn"`), the Rust module
    # that logged it (the progname) and its text.
    def logged(level, target, message)
      log(LEVELS.fetch(level, Logger::DEBUG), target) { message }
    end

    # The app's `on_shutdown` blocks, once (whichever thread's {#wait} gets here first).
    def run_shutdown_hooks
      hooks = @shutdown_hooks.synchronize { @on_shutdown.tap { @on_shutdown = [] } }
      hooks.each do |hook|
        hook.call
      rescue StandardError => e
        log(Logger::ERROR, "spikard") { "on_shutdown hook raised #{e.full_message(highlight: false)}" }
      end
    end

    # A logger that raises must not stop the dispatcher that called it.
    def log(severity, progname, &)
      @logger.add(severity, nil, progname, &)
    rescue StandardError
      nil
    end
  end

  # The messages published to one topic since {Server#capture}, oldest first (JSON values:
  # Hashes with String keys, Arrays, ...).
  class PublishCapture
    # @return [String] the topic it records
    attr_reader :topic

    # @api private
    def initialize(topic, native)
      @topic = topic
      @native = native
      @final = nil
    end

    # @return [Array] the messages published so far
    def messages = @final || @native.messages

    # Stop recording; {#messages} keeps what was recorded.
    # @return [void]
    def stop
      return if @final

      @final = @native.messages
      @native.stop
    end
  end
end
