# frozen_string_literal: true

module Spikard
  # One WebSocket route: a path, the callables that handle it and its options. Made by
  # {App#websocket}; hooks can be added to it afterwards, before the app starts:
  #
  #   chat = app.websocket("/chat") { |message, ws| ... }
  #   chat.on_connect { |ws| ... }
  #   chat.on_disconnect { |ws, close| ... }
  #
  # A route may dispatch by message type instead: each message names its type in a
  # discriminator field (`"type"` by default) and reaches the block registered with {#on} for
  # that type, after the core validated it against that type's schema:
  #
  #   app.websocket("/chat", description: "A chat without rooms") do
  #     on :join, schema: { type: "object", required: ["user"] }, description: "Join" do |msg, ws|
  #       { joined: msg["user"] }
  #     end
  #     on(:leave) { |_msg, _ws| { left: true } }
  #     on_connect { |ws| ... } # route-level hooks keep working
  #   end
  class Route
    # @return [String] the path pattern, e.g. `/rooms/{room}`
    attr_reader :path
    # @return [Hash, nil]
    attr_reader :message_schema
    # @return [Hash, nil]
    attr_reader :response_schema
    # @return [Integer, nil]
    attr_reader :max_message_size
    # @return [Array<String>] the subprotocols the route speaks, in order of preference
    attr_reader :subprotocols
    # @return [String, nil] what the route is for (the AsyncAPI document's channel description)
    attr_reader :description
    # @return [String] the field naming a message's type on a dispatching route
    attr_reader :discriminator

    HOOKS = %i[on_message on_connect on_disconnect on_binary].freeze
    private_constant :HOOKS

    # @param path [String]
    # @param handler [Handler, Class, #on_message, #call, nil] a handler object or class, or a
    #   callable taking `(message, ws)`
    # @param message_schema [Hash, Boolean, nil] JSON Schema for messages (String or Symbol keys)
    # @param response_schema [Hash, Boolean, nil] JSON Schema for replies (`false`: the route never
    #   replies, and its AsyncAPI channel has no reply message)
    # @param max_message_size [Integer, nil] bytes; overrides the app's limit
    # @param raw_text [Boolean] a plain-text route: each text message reaches the handler as the
    #   String it is (no JSON parsing, no message schema), and a String reply goes out as that
    #   text, not JSON-quoted; any other reply is sent as JSON
    # @param binary [Boolean] accept binary frames, handled by `on_binary` (or the message block)
    # @param on_connect [#call, nil] `(ws)`
    # @param on_disconnect [#call, nil] `(ws, close)`
    # @param on_binary [#call, nil] `(data, ws)`
    # @param subprotocols [Array<String>] the subprotocols the route speaks
    #   (`Sec-WebSocket-Protocol`), in order of preference: the upgrade selects the first one the
    #   client offered ({WebSocket#subprotocol}); a client offering none connects without one
    # @param description [String, nil] what the route is for, in the AsyncAPI document
    # @param discriminator [String, Symbol] the field that names a message's type, on a route
    #   that dispatches by type (see {#on}); default `"type"`
    # @raise [ConfigError] (`invalid_config`) for a raw-text route with a message schema, or a
    #   dispatching route with a message handler, a route-level schema or raw text
    def initialize(path, handler = nil, message_schema: nil, response_schema: nil, max_message_size: nil,
                   raw_text: false, binary: false, on_connect: nil, on_disconnect: nil, on_binary: nil,
                   subprotocols: [], description: nil, discriminator: "type", &block)
      @path = String(path)
      @description = description&.to_s
      @discriminator = discriminator.to_s
      @branches = {}
      @raw_text = raw_text ? true : false
      @subprotocols = subprotocols.map(&:to_s).freeze
      if handler && block&.arity&.nonzero?
        raise ArgumentError, "route #{@path}: give a handler or a message block, not both"
      end

      @hooks = {}
      @binary = binary ? true : false
      adopt(handler) if handler
      declare(&block) if block
      @message_schema = message_schema unless message_schema.nil?
      @response_schema = response_schema unless response_schema.nil?
      @max_message_size = max_message_size unless max_message_size.nil?
      self.on_connect(&on_connect) if on_connect
      self.on_disconnect(&on_disconnect) if on_disconnect
      self.on_binary(&on_binary) if on_binary
      if @branches.empty? && !@hooks[:on_message]
        raise ArgumentError, "route #{@path}: no message handler (give a block, a callable or a handler, or declare " \
                             "message types with `on`)"
      end
      check_dispatch unless @branches.empty?
      if @raw_text && @message_schema
        raise ConfigError.new("route #{@path}: a raw-text route takes no message schema (its messages are not JSON)",
                              "invalid_config")
      end

      Native.check_schemas(@path, @message_schema, @response_schema)
    end

    # Set the message handler: `|message, ws|`, returning the reply or nil.
    # @return [self]
    def on_message(callable = nil, &block) = hook(:on_message, callable || block)

    # Handle the messages whose discriminator field (see {#discriminator}) is `type`: the
    # route then dispatches by message type, and every message must name one of the types
    # declared with `on`, in the order they were declared. The core picks the type and
    # validates the message against `schema` before the block runs (an unknown or missing type
    # is answered with `validation_failed` listing the allowed values); a reply that fails
    # `reply_schema` is dropped and logged. When a message carries an `"id"` (a String or an
    # Integer), the core copies it into a Hash reply. Usually called in the route's declaring
    # block; on a route that already dispatches, it adds a type.
    #
    # @param type [Symbol, String] the discriminator's value for these messages
    # @param callable [#call, nil] instead of the block
    # @param schema [Hash, Boolean, nil] JSON Schema of these messages (String or Symbol keys)
    # @param reply_schema [Hash, Boolean, nil] JSON Schema of the block's replies
    # @param description [String, nil] what the message does, in the AsyncAPI document
    # @yieldparam message [Object] the parsed message (Hashes have String keys)
    # @yieldparam ws [WebSocket]
    # @yieldreturn [Object, nil] the reply, or nil for none
    # @return [self]
    # @raise [ConfigError] (`invalid_config`) for a type declared twice, or a route with a message
    #   handler
    # @raise [SchemaError] for a schema that does not compile
    def on(type, callable = nil, schema: nil, reply_schema: nil, description: nil, &block)
      name = type.to_s
      handler = callable || block
      raise ArgumentError, "route #{@path}: on(#{name.inspect}) needs a block or a callable" unless handler.respond_to?(:call)
      raise ConfigError.new("route #{@path}: message type #{name.inspect} is declared twice", "invalid_config") if @branches.key?(name)

      Native.check_schemas("#{@path} (#{name})", schema, reply_schema)
      @branches[name] = { handler: fit(handler, 2), message_schema: schema, reply_schema: reply_schema,
                          description: description&.to_s }.freeze
      check_dispatch
      self
    end

    # @return [Array<String>] the message types declared with {#on}, in order (empty on a route
    #   that does not dispatch)
    def message_types = @branches.keys

    # @return [Boolean] whether the route dispatches by message type ({#on})
    def dispatch?
      !@branches.empty?
    end

    # Set the connect hook: `|ws|`; raise {Rejection} to refuse the connection.
    # @return [self]
    def on_connect(callable = nil, &block) = hook(:on_connect, callable || block)

    # Set the disconnect hook: `|ws, close|`, run once per accepted connection.
    # @return [self]
    def on_disconnect(callable = nil, &block) = hook(:on_disconnect, callable || block)

    # Set the binary handler `|data, ws|` (the route then accepts binary frames).
    # @return [self]
    def on_binary(callable = nil, &block)
      @binary = true
      hook(:on_binary, callable || block)
    end

    # @return [Boolean] whether binary frames are accepted
    def binary?
      @binary
    end

    # @return [Boolean] whether text messages reach the handler as unparsed Strings
    def raw_text?
      @raw_text
    end

    # What the native server needs to build the route.
    # @return [Hash]
    def spec
      {
        path: @path, message_schema: @message_schema, response_schema: @response_schema,
        max_message_size: @max_message_size, raw_text: @raw_text, on_connect: @hooks.key?(:on_connect),
        on_disconnect: @hooks.key?(:on_disconnect), binary: @binary, subprotocols: @subprotocols,
        description: @description, dispatch: dispatch_spec
      }
    end

    # The callables indexed by the kind of call the dispatcher runs (`Native::CONNECT`,
    # `MESSAGE`, `BINARY`, `DISCONNECT`); nil where the route has none. On a dispatching route
    # `MESSAGE` holds a Hash of message type to callable: the extension looks up the type the
    # core picked.
    # @return [Array]
    def callables
      callables = []
      callables[Native::CONNECT] = @hooks[:on_connect]
      callables[Native::MESSAGE] = dispatch? ? @branches.transform_values { |b| b[:handler] }.freeze : @hooks[:on_message]
      callables[Native::BINARY] = @hooks[:on_binary] || (@binary ? @hooks[:on_message] : nil)
      callables[Native::DISCONNECT] = @hooks[:on_disconnect]
      callables.freeze
    end

    private

    # The bridge's `dispatch` object: the discriminator and each type's schemas, in order.
    def dispatch_spec
      return nil unless dispatch?

      branches = @branches.transform_values { |branch| branch.except(:handler).compact }
      { discriminator: @discriminator, branches: branches }
    end

    # What the core would refuse when the app starts, refused when the route is declared.
    def check_dispatch
      clash = if @hooks[:on_message] then "message handler"
              elsif @raw_text then "raw text"
              elsif !@message_schema.nil? || !@response_schema.nil? then "route-level message or response schema"
              end
      return unless clash

      raise ConfigError.new("route #{@path}: a route that dispatches by message type takes no #{clash} " \
                            "(give each type its schema with `on`)", "invalid_config")
    end

    ARITY = { on_message: 2, on_connect: 1, on_disconnect: 2, on_binary: 2 }.freeze
    private_constant :ARITY

    def hook(name, callable)
      raise ArgumentError, "route #{@path}: #{name} needs a block or a callable" unless callable.respond_to?(:call)

      @hooks[name] = fit(callable, ARITY.fetch(name))
      self
    end

    # Procs drop extra arguments by themselves; lambdas and methods taking fewer get a wrapper.
    def fit(callable, count)
      return callable if callable.is_a?(Proc) && !callable.lambda?

      arity = callable.respond_to?(:arity) ? callable.arity : -1
      return callable if arity.negative? || arity >= count

      ->(*args) { callable.call(*args.first(arity)) }
    end

    def adopt(handler)
      handler = handler.new if handler.is_a?(Class)
      if handler.respond_to?(:on_message)
        adopt_object(handler)
      elsif handler.respond_to?(:call)
        hook(:on_message, handler)
      else
        raise ArgumentError, "route #{@path}: #{handler.inspect} has neither on_message nor call"
      end
    end

    def adopt_object(handler)
      types = handler.is_a?(Handler) ? handler.class.message_types : {}
      if handler.is_a?(Handler) && types.empty? && handler.method(:on_message).owner == Handler
        raise ArgumentError, "route #{@path}: #{handler.class} must define on_message(message, ws) or declare types with on"
      end

      HOOKS.each do |name|
        next unless handler.respond_to?(name)
        next if handler.is_a?(Handler) && handler.method(name).owner == Handler

        name == :on_binary ? on_binary(handler.method(name)) : hook(name, handler.method(name))
      end
      return unless handler.is_a?(Handler)

      types.each do |name, type|
        run = type.fetch(:block)
        on(name, ->(message, ws) { handler.instance_exec(message, ws, &run) },
           schema: type[:schema], reply_schema: type[:reply_schema], description: type[:description])
      end
      @message_schema = handler.class.message_schema
      @response_schema = handler.class.response_schema
      @max_message_size = handler.class.max_message_size
    end

    # A block without parameters declares the route: `on_message { ... }`, `on_connect { ... }`,
    # `message_schema(...)`, ... run on a {Builder}. A block with parameters handles messages.
    def declare(&block)
      if block.arity.zero?
        Builder.new(self).instance_exec(&block)
      else
        hook(:on_message, block)
      end
    end

    # Sets schemas from a declaring block.
    # @api private
    def assign(name, value)
      instance_variable_set(:"@#{name}", value)
    end

    # The receiver of a declaring block (see {App#websocket}).
    class Builder
      # @param route [Route]
      def initialize(route)
        @route = route
      end

      # @!method on_message(&block)
      # @!method on_connect(&block)
      # @!method on_disconnect(&block)
      # @!method on_binary(&block)
      %i[on_message on_connect on_disconnect on_binary].each do |name|
        define_method(name) { |callable = nil, &block| @route.public_send(name, callable || block) && nil }
      end

      # Set what the route is for (see {Route#description}).
      # @param text [String]
      # @return [nil]
      def description(text) = @route.__send__(:assign, :description, text.to_s) && nil

      # Set the field that names a message's type (see {Route#discriminator}).
      # @param field [String, Symbol]
      # @return [nil]
      def discriminator(field) = @route.__send__(:assign, :discriminator, field.to_s) && nil

      # Handle the messages of one type: see {Route#on}.
      # @return [nil]
      def on(type, callable = nil, **options, &block)
        @route.on(type, callable, **options, &block)
        nil
      end

      # @!method message_schema(schema)
      # @!method response_schema(schema)
      # @!method max_message_size(bytes)
      %i[message_schema response_schema max_message_size].each do |name|
        define_method(name) { |value| @route.__send__(:assign, name, value) && nil }
      end
    end
  end
end
