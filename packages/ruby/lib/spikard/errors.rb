# frozen_string_literal: true

module Spikard
  # Base of every error the gem raises. {#code} is the core's stable, machine-readable code
  # (`schema_compile`, `invalid_path`, `duplicate_route`, `invalid_config`, `bind_failed`,
  # `serve_failed`, `connection_closed`, `queue_full`, `connection_rejected`, `publish_invalid`).
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

  # A message could not be queued: the connection is closed, or its client stopped reading
  # (code `queue_full`; the connection is then closed with 1013).
  class ConnectionClosed < Error; end

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

  # Raise it in `on_connect` (or call {WebSocket#reject!}) to refuse a connection: the upgrade is
  # answered with HTTP {#status} and a `connection_rejected` envelope, and `on_disconnect` does
  # not run.
  class Rejected < Error
    # @return [Integer] the HTTP status of the refusal
    attr_reader :status

    # @param message [String] sent to the client as the envelope's message
    # @param status [Integer] HTTP status (403 by default)
    def initialize(message = "connection rejected", status: 403)
      super(message, "connection_rejected")
      @status = Integer(status)
    end
  end
end
