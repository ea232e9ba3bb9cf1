# frozen_string_literal: true

module Spikard
  # Base class for class-based handlers, for routes with more than a few lines of logic:
  #
  #   class ChatHandler < Spikard::Handler
  #     message_schema type: "object", required: %w[text user]
  #
  #     def on_connect(ws) = ws.state[:joined] = Time.now
  #     def on_message(message, ws) = { echo: message["text"], from: message["user"] }
  #     def on_disconnect(ws, close) = puts("left with #{close.code}")
  #   end
  #
  #   app.websocket("/chat", ChatHandler)
  #
  # Only the hooks a subclass overrides are called. Any object with an `on_message` method can
  # be registered the same way; subclassing adds the class-level declarations below.
  class Handler
    class << self
      # Declare (with an argument) or read the JSON Schema every message must satisfy.
      # @param schema [Hash, Boolean, nil]
      # @return [Hash, Boolean, nil]
      def message_schema(schema = nil)
        @message_schema = schema unless schema.nil?
        inherited_setting(:@message_schema, :message_schema)
      end

      # Declare (with an argument) or read the JSON Schema every reply must satisfy (`false`: the
      # handler never replies).
      # @param schema [Hash, Boolean, nil]
      # @return [Hash, Boolean, nil]
      def response_schema(schema = nil)
        @response_schema = schema unless schema.nil?
        inherited_setting(:@response_schema, :response_schema)
      end

      # Declare (with an argument) or read the route's largest accepted message in bytes.
      # @param bytes [Integer, nil]
      # @return [Integer, nil]
      def max_message_size(bytes = nil)
        @max_message_size = bytes unless bytes.nil?
        inherited_setting(:@max_message_size, :max_message_size)
      end

      # Declare a message type: the route this class handles then dispatches by message type
      # (see {Route#on}), and the block runs on the handler instance for each message of that
      # type (so it may call the handler's methods); `on_message` is then not defined. Types
      # declared by a superclass come first.
      #
      #   class Chat < Spikard::Handler
      #     on :join, schema: { type: "object", required: ["user"] } do |message, ws|
      #       greet(message["user"])
      #     end
      #   end
      #
      # @param type [Symbol, String]
      # @param schema [Hash, Boolean, nil] JSON Schema of these messages
      # @param reply_schema [Hash, Boolean, nil] JSON Schema of the replies
      # @param description [String, nil] what the message does, in the AsyncAPI document
      # @return [void]
      def on(type, schema: nil, reply_schema: nil, description: nil, &block)
        raise ArgumentError, "#{self}.on(#{type.to_s.inspect}) needs a block" unless block

        (@message_types ||= {})[type.to_s] = { schema: schema, reply_schema: reply_schema,
                                               description: description, block: block }.freeze
        nil
      end

      # The message types declared with {.on}, this class's and its superclasses', in order.
      # @return [Hash{String => Hash}]
      def message_types
        inherited = superclass.respond_to?(:message_types) ? superclass.message_types : {}
        inherited.merge(@message_types || {})
      end

      private

      def inherited_setting(ivar, name)
        return instance_variable_get(ivar) if instance_variable_defined?(ivar)

        superclass.public_send(name) if superclass.respond_to?(name)
      end
    end

    # Called before the upgrade completes; raise {Rejection} (or call `ws.reject!`) to refuse.
    # @param ws [WebSocket]
    def on_connect(ws); end

    # Handle one JSON message; return the reply (a Hash, Array, String, number, true/false) or
    # nil for no reply.
    # @param message [Object] the parsed JSON message (Hashes have String keys)
    # @param ws [WebSocket]
    def on_message(message, ws)
      raise NotImplementedError, "#{self.class} must define on_message(message, ws)"
    end

    # Handle one binary message (a binary String); return a String to send binary, another
    # value to send JSON, nil for no reply. Overriding it makes the route accept binary frames.
    # @param data [String]
    # @param ws [WebSocket]
    def on_binary(data, ws); end

    # Called exactly once after an accepted connection ended.
    # @param ws [WebSocket]
    # @param close [Close]
    def on_disconnect(ws, close); end
  end
end
