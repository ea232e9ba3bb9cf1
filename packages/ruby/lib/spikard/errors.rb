# frozen_string_literal: true

module Spikard
  # Base of every error the gem raises. {#code} is the core's stable, machine-readable code
  # (`schema_compile`, `invalid_path`, `duplicate_route`, `invalid_config`, `bind_failed`,
  # `serve_failed`, `pubsub_unavailable` (a {ServerError}), `connection_closed`, `queue_full`, `invalid_close`, `invalid_state`,
  # `connection_rejected`, `publish_invalid`, `handler_error`).
  class Error < StandardError
    # @return [String, nil] the stable error code
    attr_reader :code

    # @param message [String, nil]
    # @param code [String, nil]
    def initialize(message = nil, code = nil)
      super(message)
      @code = code
    end
  end

  # A message, response or topic schema is not a valid JSON Schema (raised at registration).
  class SchemaError < Error; end

  # A route path or option is not usable (bad path, duplicate route, zero size limit).
  class ConfigError < Error; end

  # The server could not bind its address.
  class BindError < Error; end

  # The server failed while running.
  class ServerError < Error; end

  # A message could not be queued: the connection is closed (code `connection_closed`), or its
  # client stopped reading ({QueueFullError}).
  class ConnectionClosed < Error; end

  # A send found the client's outgoing queue full: the client is not reading, and the connection
  # is being closed with 1013 (code `queue_full`).
  class QueueFullError < ConnectionClosed; end

  # `ws.close(code, reason)` with a code a server may not send (use 1000-1003, 1007-1014 or
  # 3000-4999) or a reason longer than 123 bytes (code `invalid_close`); the connection stays
  # open.
  class InvalidCloseError < Error; end

  # A call answered twice, or an answer where none is expected (code `invalid_state`).
  class InvalidStateError < Error; end

  # One failing location of a message, as in a `validation_failed` envelope: `path` (a JSON
  # pointer, "" for the message itself), `message` and the JSON Schema `keyword` that failed.
  # Read it as `error.path` or `error[:path]`.
  FieldError = Struct.new(:path, :message, :keyword)

  # A published message does not match the schema declared for its topic ({App#topic}); it was
  # queued for nobody. {#code} is `publish_invalid`, the message is the core's text (the same in
  # every language). Raised by every `publish`; uncaught in a handler, the client gets a
  # `handler_error` envelope with that message.
  class PublishError < Error
    # @return [String] the topic the message was published to
    attr_reader :topic
    # @return [Array<FieldError>] every failing location
    attr_reader :errors

    # @param message [String, nil]
    # @param code [String, nil]
    # @param topic [String, nil]
    # @param errors [Array<FieldError>]
    def initialize(message = nil, code = "publish_invalid", topic: nil, errors: [])
      super(message, code)
      @topic = topic
      @errors = errors.freeze
    end
  end

  # Raise it in a handler to send the client a `handler_error` envelope with this message; the
  # connection stays open. Only this exception's message reaches the client: any other exception
  # is an internal error, sent as `"internal error"` and logged with its backtrace through the
  # app's `logger` (see {App#initialize}).
  #
  #   raise Spikard::HandlerError, "at most 100 items per order" if items.size > 100
  class HandlerError < Error
    # @param message [String] sent to the client as the envelope's message
    def initialize(message)
      super(message, "handler_error")
    end
  end

  # Raise it in `on_connect` (or call {WebSocket#reject!}) to refuse a connection: the upgrade is
  # answered with HTTP {#status} and a `connection_rejected` envelope, and `on_disconnect` does
  # not run.
  class Rejection < Error
    # @return [Integer] the HTTP status of the refusal
    attr_reader :status

    # @param message [String] sent to the client as the envelope's message
    # @param status [Integer] HTTP status (403 by default)
    def initialize(message = "connection rejected", status: 403)
      super(message, "connection_rejected")
      @status = Integer(status)
    end
  end

  # The class of each core error code (see {Error.from_native}).
  CLASSES = {
    "schema_compile" => SchemaError, "invalid_path" => ConfigError, "duplicate_route" => ConfigError,
    "invalid_config" => ConfigError, "bind_failed" => BindError, "serve_failed" => ServerError,
    "pubsub_unavailable" => ServerError,
    "connection_closed" => ConnectionClosed, "queue_full" => QueueFullError,
    "invalid_close" => InvalidCloseError, "invalid_state" => InvalidStateError
  }.freeze
  private_constant :CLASSES

  class Error
    # The exception for a core error (called by the extension): its code picks the class;
    # `errors` are `[path, message, keyword]` triples.
    # @api private
    def self.from_native(code, message, topic, errors)
      if code == "publish_invalid"
        return PublishError.new(message, code, topic: topic, errors: errors.map { |error| FieldError.new(*error) })
      end

      CLASSES.fetch(code, Error).new(message, code)
    end
    private_class_method :from_native
  end
end
