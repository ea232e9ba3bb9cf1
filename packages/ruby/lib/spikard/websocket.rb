# frozen_string_literal: true

module Spikard
  # How a connection ended, as given to `on_disconnect`: the close `code` (the client's when it
  # closed first, the server's otherwise, 1006 when the socket just dropped) and its `reason`.
  Close = Struct.new(:code, :reason)

  # One WebSocket connection, given to handlers and hooks as `ws`. The native methods (`send`,
  # `send_text`, `send_binary`, `closing?` and the room methods) are defined by
  # the extension; this file adds the Ruby conveniences.
  #
  # Rooms: `subscribe(topic)` / `unsubscribe(topic)` (true when it changed something),
  # `subscriptions`, `publish(topic, message)` and `publish_others(topic, message)` (the number
  # of connections it was queued for) and `topic_count(topic)`. A connection leaves every topic
  # when it closes, before `on_disconnect` runs.
  #
  # `send` queues a message without waiting and may be called from any Ruby thread while the
  # connection is open (it shadows `Object#send`: use `__send__` for dynamic calls).
  class WebSocket
    # @return [Integer] the connection's id, unique in the process
    def id = facts[0]

    # @return [String] the request path (`/rooms/lobby`)
    def path = facts[1]

    # @return [String] the matched route's pattern (`/rooms/{room}`)
    def route = facts[2]

    # @return [String] the client's address, `"ip:port"`
    def remote_addr = facts[3]

    # @return [String, nil] the subprotocol selected from the route's `subprotocols:`, nil for none
    def subprotocol = facts[4]

    # Cookies of the upgrade request by name (the first value of a name sent twice).
    # @return [Hash{String => String}]
    def cookies
      @cookies ||= native_pairs(:cookies).each_with_object({}) { |(name, value), first| first[name] ||= value }.freeze
    end

    # Per-connection state, kept between messages of this connection only.
    # @return [Hash]
    def state
      @state ||= {}
    end

    # Path parameters of the matched route (`/rooms/{room}` gives `{"room" => "lobby"}`).
    # @return [Hash{String => String}]
    def path_params
      @path_params ||= native_pairs(:path_params).to_h.freeze
    end
    alias params path_params

    # Every query parameter of the upgrade request as `[key, value]`, in order (keys may repeat).
    # @return [Array<Array(String, String)>]
    def query_pairs
      @query_pairs ||= native_pairs(:query).freeze
    end

    # Query parameters of the upgrade request, first value of each key (see {#query_pairs}).
    # @return [Hash{String => String}]
    def query_params
      @query_params ||= query_pairs.each_with_object({}) { |(key, value), first| first[key] ||= value }.freeze
    end
    alias query query_params

    # Headers of the upgrade request, names in lower case, repeated headers joined with ", ".
    # @return [Hash{String => String}]
    def headers
      @headers ||= native_pairs(:headers).to_h.freeze
    end

    # Close with `code` and `reason` after the messages queued so far (closing twice keeps the
    # first code).
    # @param code [Integer] 1000-1003, 1007-1014 or 3000-4999
    # @param reason [String] at most 123 bytes
    # @return [void]
    # @raise [InvalidCloseError] for a code a server may not send or a longer reason (the
    #   connection stays open)
    def close(code = 1000, reason = "")
      native_close(code, reason.to_s)
    end

    # Refuse the connection from `on_connect` (raises {Rejection}).
    # @param reason [String]
    # @param status [Integer]
    def reject!(reason = "connection rejected", status: 403)
      raise Rejection.new(reason, status: status)
    end

    # @return [String]
    def inspect
      "#<Spikard::WebSocket id=#{id} path=#{path.inspect}>"
    end

    private

    def facts
      @facts ||= native_facts.freeze
    end

    private :native_facts, :native_pairs, :native_close
  end
end
