# frozen_string_literal: true

module Spikard
  # Base of every error the gem raises. {#code} is the core's stable, machine-readable code
  # (`schema_compile`, `invalid_path`, `duplicate_route`, `invalid_config`, `bind_failed`,
  # `serve_failed`, `connection_closed`, `queue_full`, `connection_rejected`).
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

  # A message or response schema is not a valid JSON Schema (raised at registration).
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
