# frozen_string_literal: true

# The named handler behaviours of fixtures/README.md, each written with the gem's public API.
# They use every handler form on purpose: blocks, hooks as options, a declaring block, a
# Spikard::Handler subclass and chained hooks.
module Behaviours
  # The hook log of one fixture, shared by its clients, waited on without polling.
  class Log
    def initialize
      @events = []
      @lock = Mutex.new
      @changed = ConditionVariable.new
    end

    def <<(event)
      @lock.synchronize do
        @events << event
        @changed.broadcast
      end
      self
    end

    # The events once there are at least `count`, or what is there after `timeout` seconds.
    def wait_for(count, timeout)
      deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
      @lock.synchronize do
        while @events.size < count
          left = deadline - Process.clock_gettime(Process::CLOCK_MONOTONIC)
          break if left <= 0

          @changed.wait(@lock, left)
        end
        @events.dup
      end
    end
  end

  # `reject`: a class-based handler whose on_connect refuses every connection.
  class Rejecting < Spikard::Handler
    def initialize(log)
      super()
      @log = log
    end

    def on_connect(ws) = ws.reject!("not allowed")
    def on_message(message, _ws) = message
    def on_disconnect(_ws, close) = @log << "disconnect:#{close.code}"
  end

  # `rooms`: topics named by the path parameter `room`, as a Spikard::Handler subclass.
  class Rooms < Spikard::Handler
    def initialize(log)
      super()
      @log = log
    end

    def on_connect(ws)
      ws.subscribe(room(ws))
      ws.publish(room(ws), { event: "join", user: user(ws) })
    end

    def on_message(message, ws)
      case message.is_a?(Hash) && message["action"]
      when "leave"
        ws.unsubscribe(room(ws))
        { left: room(ws) }
      when "count" then { members: ws.topic_count(room(ws)) }
      when "publish" then { delivered: ws.publish(message["topic"], { user: user(ws), text: message["text"] }) }
      when "flood" then flood(ws, message.fetch("topic"), message.fetch("count"), message.fetch("bytes"))
      else
        ws.publish(room(ws), { user: user(ws), text: message["text"] })
        nil
      end
    end

    def on_disconnect(ws, close)
      ws.publish(room(ws), { event: "leave", user: user(ws) })
      @log << "disconnect:#{close.code}"
    end

    private

    def room(ws) = ws.params.fetch("room")
    def user(ws) = ws.query.fetch("user", "anonymous")

    # Publish `count` messages of `bytes` filler each; refused or undelivered ones are ignored.
    def flood(ws, topic, count, bytes)
      fill = "x" * bytes
      count.times do |seq|
        ws.publish(topic, { seq: seq, fill: fill })
      rescue Spikard::PublishError
        next
      end
      { flooded: count }
    end
  end

  module_function

  # `close_on_message`, registered as a Method object (the callable form). The close error of
  # an invalid code or reason is not rescued: it is the handler's internal error.
  def close_on_message(message, ws)
    ws.close(message.fetch("code"), message.fetch("reason", ""))
    nil
  end

  # `send_until_full`: send until a send fails, then log the error's code.
  def send_until_full(message, ws, log)
    fill = "x" * message.fetch("bytes")
    message.fetch("count").times do |seq|
      ws.send({ seq: seq, fill: fill })
    rescue Spikard::Error => e
      log << "send_failed:#{e.code}"
      break
    end
    nil
  end

  # Register the fixture route `spec` on `app`, logging hook events to `log`.
  def register(app, spec, log)
    return register_dispatch(app, spec, log) if spec.key?("dispatch")

    path = spec.fetch("path")
    options = {
      message_schema: spec["message_schema"], response_schema: spec["response_schema"],
      max_message_size: spec.dig("options", "max_message_size"), subprotocols: spec.dig("options", "subprotocols"),
      raw_text: spec.dig("options", "raw_text")
    }.compact
    case spec.fetch("handler")
    when "echo" then app.websocket(path, **options) { |message| message }
    when "chat_reply"
      app.websocket(path, **options) { |message| { echo: message["text"], from: message["user"] } }
    when "raise" then app.websocket(path, **options) { |_message| raise Spikard::HandlerError, "boom" }
    when "crash" then app.websocket(path, **options) { |_message| raise "secret internal detail" }
    when "connect_crash"
      app.websocket(path, on_connect: ->(_ws) { raise "secret internal detail" }, **options) { |message| message }
    when "reject_status"
      refuse = ->(ws) { ws.reject!("not allowed", status: Integer(ws.query.fetch("status"))) }
      app.websocket(path, on_connect: refuse, **options) { |message| message }
    when "bytes_reply" then app.websocket(path, **options) { |message| message.fetch("text").b }
    when "send_until_full" then app.websocket(path, **options) { |message, ws| send_until_full(message, ws, log) }
    when "reply_when_asked"
      app.websocket(path, **options) { |message| message if message.is_a?(Hash) && message["reply"] == true }
    when "lifecycle"
      app.websocket(path, **options) do
        on_connect { |_ws| log << "connect" }
        on_message do |message, _ws|
          log << "message"
          message
        end
        on_disconnect { |_ws, close| log << "disconnect:#{close.code}" }
      end
    when "connect_slow"
      slow = lambda do |ws|
        log << "connect"
        sleep(Integer(ws.query.fetch("ms")) / 1000.0)
      end
      app.websocket(path, on_connect: slow, **options) { |message| message }
    when "connection_info"
      app.websocket(path, **options) { |_message, ws| { subprotocol: ws.subprotocol, cookies: ws.cookies } }
    when "sleep"
      app.websocket(path, **options) do
        on_message do |message, _ws|
          log << "message"
          sleep(message.fetch("ms") / 1000.0)
          message
        end
        on_disconnect { |_ws, close| log << "disconnect:#{close.code}" }
      end
    when "reject" then app.websocket(path, Rejecting.new(log), **options)
    when "close_on_connect"
      app.websocket(path, on_connect: ->(ws) { ws.close(1008, "not allowed") }, **options) { |message| message }
    when "params"
      app.websocket(path, **options) do |_message, ws|
        { path_params: ws.params, query: ws.query, header: ws.headers["x-fixture"] }
      end
    when "counter"
      app.websocket(path, **options) do |_message, ws|
        ws.state[:count] = ws.state.fetch(:count, 0) + 1
        { count: ws.state[:count] }
      end
    when "binary_echo" then app.websocket(path, binary: true, **options) { |message| message }
    when "push"
      app.websocket(path, **options) do |message, ws|
        message.fetch("times").times { |i| ws.send({ push: i }) }
        { done: true }
      end
    when "rooms" then app.websocket(path, Rooms.new(log), **options)
    when "close_on_message" then app.websocket(path, method(:close_on_message), **options)
    else
      raise ArgumentError, "unknown handler behaviour #{spec["handler"].inspect}"
    end
  end

  # A route that dispatches by message type: the route's behaviour gives its hooks (its message
  # handler is never called, as in the Rust runner), each branch's behaviour its block. Declared
  # in a declaring block with `on`, the route-level hooks beside them.
  def register_dispatch(app, spec, log)
    hooks = dispatch_hooks(spec.fetch("handler"), log)
    branches = spec.fetch("dispatch").fetch("branches").map do |name, branch|
      options = { schema: branch["message_schema"], reply_schema: branch["reply_schema"],
                  description: branch["description"] }.compact
      [name, options, branch_block(branch.fetch("handler"))]
    end
    discriminator = spec.dig("dispatch", "discriminator")
    app.websocket(spec.fetch("path"), **{ discriminator: discriminator }.compact) do
      hooks.each { |hook, block| public_send(hook, &block) }
      branches.each { |name, options, block| on(name.to_sym, **options, &block) }
    end
  end

  # The route-level hooks of a dispatching route's behaviour.
  def dispatch_hooks(name, log)
    case name
    when "echo" then {}
    when "lifecycle"
      { on_connect: ->(_ws) { log << "connect" }, on_disconnect: ->(_ws, close) { log << "disconnect:#{close.code}" } }
    else raise ArgumentError, "unknown dispatching route behaviour #{name.inspect}"
    end
  end

  # The block of a branch's behaviour.
  def branch_block(name)
    case name
    when "echo" then proc { |message| message }
    when "chat_reply" then proc { |message| { echo: message["text"], from: message["user"] } }
    when "counter"
      proc do |_message, ws|
        ws.state[:count] = ws.state.fetch(:count, 0) + 1
        { count: ws.state[:count] }
      end
    else raise ArgumentError, "unknown branch behaviour #{name.inspect}"
    end
  end
end
