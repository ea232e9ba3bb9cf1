# frozen_string_literal: true

require "base64"
require "digest/sha1"
require "io/wait"
require "json"
require "securerandom"
require "socket"
require "uri"

module Spikard
  # Test helpers: a real WebSocket client on a TCP socket, and a server on a free port.
  #
  #   require "spikard/testing"
  #
  #   Spikard::Testing.serve(app) do |server|
  #     client = server.connect("/echo")
  #     client.send_json({ "hi" => 1 })
  #     client.receive_json # => {"hi"=>1}
  #   end
  module Testing
    # Start `app` on 127.0.0.1 with a free port, yield the {Server}, stop it afterwards.
    # Clients opened with {Server#connect} are dropped before the server stops, so that it does
    # not wait for their closing handshakes.
    # @param app [App]
    # @yieldparam server [Server]
    # @return [Object] the block's value
    def self.serve(app)
      server = app.start(host: "127.0.0.1", port: 0)
      begin
        yield server
      ensure
        server.test_clients.each(&:disconnect)
        server.stop
      end
    end

    # The upgrade was refused with an HTTP status.
    class Rejected < StandardError
      # @return [Integer] the HTTP status
      attr_reader :status
      # @return [String] the response body (a `connection_rejected` envelope from Spikard)
      attr_reader :body

      # @param status [Integer]
      # @param body [String]
      def initialize(status, body)
        super("upgrade refused with HTTP #{status}: #{body}")
        @status = status
        @body = body
      end
    end

    # Nothing arrived in time.
    class Timeout < StandardError; end

    # One frame received: `type` is :text, :binary, :ping, :pong or :close; `data` the payload
    # (UTF-8 for text, binary otherwise); `code` and `reason` are set for :close.
    Frame = Struct.new(:type, :data, :code, :reason)

    # A WebSocket client (RFC 6455) on a real TCP socket, for tests. Not thread-safe. It reads
    # the socket only inside {#receive} (and the methods built on it), never in the background:
    # between those calls it is a client that stopped reading.
    class Client
      GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
      OPCODES = { 0x0 => :continuation, 0x1 => :text, 0x2 => :binary, 0x8 => :close, 0x9 => :ping, 0xA => :pong }.freeze
      private_constant :GUID, :OPCODES

      # Connect and complete the upgrade.
      # @param url [String] `ws://host:port/path?query`
      # @param headers [Hash{String => String}] extra request headers
      # @param timeout [Numeric] seconds each wait may take
      # @return [Client]
      # @raise [Rejected] when the server answers with another status than 101
      # @param answer_pings [Boolean] answer the server's pings while receiving, as browsers do
      #   (`false` acts as a peer that vanished)
      # @param protocols [Array<String>] subprotocols to offer (see {#subprotocol})
      def self.connect(url, headers: {}, timeout: 5, answer_pings: true, protocols: [])
        new(url, headers: headers, timeout: timeout, answer_pings: answer_pings, protocols: protocols)
      end

      # @return [Numeric] seconds each wait may take
      attr_accessor :timeout
      # @return [String, nil] the subprotocol the server selected (nil: none)
      attr_reader :subprotocol

      # @see .connect
      def initialize(url, headers: {}, timeout: 5, answer_pings: true, protocols: [])
        uri = URI.parse(url)
        @timeout = timeout
        @answer_pings = answer_pings
        @buffer = String.new(encoding: Encoding::BINARY)
        @socket = Socket.tcp(uri.hostname, uri.port, connect_timeout: timeout)
        @socket.setsockopt(Socket::IPPROTO_TCP, Socket::TCP_NODELAY, 1)
        @close_sent = false
        @close_received = nil
        headers = headers.merge("Sec-WebSocket-Protocol" => protocols.join(", ")) unless protocols.empty?
        handshake(uri, headers)
      end

      # Send a value serialised as JSON in one text frame.
      def send_json(value) = send_frame(0x1, JSON.generate(value))

      # Send a string as one text frame, as is.
      def send_text(text) = send_frame(0x1, text.to_s)

      # Send raw bytes as one text frame (e.g. invalid UTF-8).
      def send_text_bytes(bytes) = send_frame(0x1, bytes.to_s)

      # Send bytes as one binary frame.
      def send_binary(bytes) = send_frame(0x2, bytes.to_s)

      # Write these bytes to the socket as they are, in one write: frames built by hand, several
      # at once (the server reads them together) or broken ones. A client's frames must be masked.
      # @return [void]
      def send_raw(bytes)
        @socket.write(bytes.b)
        nil
      end

      # Send a ping with this payload.
      def ping(payload = "") = send_frame(0x9, payload.to_s)

      # Send any frame (opcode and payload as given; `fin: false` starts a fragmented message).
      # @return [void]
      def send_frame(opcode, payload, fin: true)
        payload = payload.b
        head = [(fin ? 0x80 : 0) | opcode].pack("C")
        length = payload.bytesize
        head << if length < 126
                  [0x80 | length].pack("C")
                elsif length < 65_536
                  [0x80 | 126, length].pack("Cn")
                else
                  [0x80 | 127, length].pack("CQ>")
                end
        mask = SecureRandom.random_bytes(4)
        @socket.write(head, mask, mask_payload(payload, mask))
        nil
      end

      # The next frame of any kind (a fragmented message is returned whole).
      # @return [Frame]
      # @raise [Timeout] when nothing arrives within {#timeout}
      # @raise [EOFError] when the server closed the socket without a close frame
      def receive
        deadline = monotonic + @timeout
        message_type = nil
        parts = []
        loop do
          fin, opcode, payload = read_frame(deadline)
          type = OPCODES.fetch(opcode) { raise IOError, "unknown opcode #{opcode}" }
          return control_frame(type, payload) unless %i[text binary continuation].include?(type)

          message_type ||= type
          parts << payload
          next unless fin

          data = parts.join.b
          data.force_encoding(Encoding::UTF_8) if message_type == :text
          return Frame.new(message_type, data)
        end
      end

      # The next frame that is not a ping or a pong.
      # @return [Frame]
      def receive_data
        loop do
          frame = receive
          return frame unless %i[ping pong].include?(frame.type)
        end
      end

      # The next data frame, which must be a text frame holding JSON.
      # @return [Object]
      def receive_json
        frame = receive_data
        raise IOError, "expected a text frame, got #{frame.to_h}" unless frame.type == :text

        JSON.parse(frame.data)
      end

      # Start the closing handshake and wait for the server's close frame (data frames that
      # arrive first are dropped). After the server closed first, just drops the socket.
      # @return [Frame] the server's close frame
      def close(code = 1000, reason = "")
        send_close([code].pack("n") + reason.to_s.b)
        frame = @close_received
        frame = receive until frame&.type == :close
        disconnect
        frame
      end

      # Whether a close frame came from the server (it was answered at once, as RFC 6455 asks).
      # @return [Boolean]
      def closed_by_server? = !@close_received.nil?

      # Drop the TCP connection without a closing handshake.
      # @return [void]
      def disconnect
        @socket.close unless @socket.closed?
      end

      private

      def handshake(uri, headers)
        key = Base64.strict_encode64(SecureRandom.random_bytes(16))
        target = uri.request_uri
        lines = ["GET #{target} HTTP/1.1", "Host: #{uri.host}:#{uri.port}", "Upgrade: websocket",
                 "Connection: Upgrade", "Sec-WebSocket-Key: #{key}", "Sec-WebSocket-Version: 13"]
        headers.each { |name, value| lines << "#{name}: #{value}" }
        @socket.write(lines.join("\r\n") + "\r\n\r\n")
        deadline = monotonic + @timeout
        fill_until(deadline) { @buffer.include?("\r\n\r\n") }
        head, rest = @buffer.split("\r\n\r\n", 2)
        @buffer = rest.to_s.b
        status_line, *header_lines = head.split("\r\n")
        status = status_line.split(" ", 3)[1].to_i
        response = header_lines.to_h { |line| line.split(":", 2).map(&:strip).then { |n, v| [n.downcase, v] } }
        unless status == 101
          length = response["content-length"].to_i
          fill_until(deadline) { @buffer.bytesize >= length }
          disconnect
          raise Rejected.new(status, @buffer.byteslice(0, length).force_encoding(Encoding::UTF_8))
        end
        accept = Base64.strict_encode64(Digest::SHA1.digest(key + GUID))
        raise IOError, "bad Sec-WebSocket-Accept" unless response["sec-websocket-accept"] == accept

        @subprotocol = response["sec-websocket-protocol"]
      end

      def read_frame(deadline)
        fill(2, deadline)
        first, second = @buffer.unpack("CC")
        length = second & 0x7F
        offset = 2
        if length == 126
          fill(4, deadline)
          length = @buffer.byteslice(2, 2).unpack1("n")
          offset = 4
        elsif length == 127
          fill(10, deadline)
          length = @buffer.byteslice(2, 8).unpack1("Q>")
          offset = 10
        end
        raise IOError, "the server masked a frame" if second & 0x80 != 0

        fill(offset + length, deadline)
        payload = @buffer.byteslice(offset, length)
        @buffer = @buffer.byteslice(offset + length..)
        [first & 0x80 != 0, first & 0x0F, payload]
      end

      def control_frame(type, payload)
        send_frame(0xA, payload) if type == :ping && @answer_pings && !@close_sent
        return Frame.new(type, payload) unless type == :close

        code = payload.bytesize >= 2 ? payload.unpack1("n") : nil
        reason = payload.bytesize > 2 ? payload.byteslice(2..).force_encoding(Encoding::UTF_8) : ""
        @close_received = Frame.new(:close, payload, code, reason)
        send_close(payload.byteslice(0, 2).to_s)
        @close_received
      end

      def send_close(payload)
        return if @close_sent || @socket.closed?

        @close_sent = true
        send_frame(0x8, payload)
      rescue SystemCallError
        # The server already dropped the socket; there is nobody to answer.
        nil
      end

      def fill(bytes, deadline)
        fill_until(deadline) { @buffer.bytesize >= bytes }
      end

      def fill_until(deadline)
        until yield
          left = deadline - monotonic
          raise Timeout, "nothing received within #{@timeout}s" if left <= 0

          chunk = @socket.read_nonblock(65_536, exception: false)
          case chunk
          when :wait_readable then @socket.wait_readable(left)
          when nil then raise EOFError, "the server closed the connection"
          else @buffer << chunk
          end
        end
      end

      def mask_payload(payload, mask)
        return payload if payload.empty?

        words = payload.bytesize / 4
        key = mask.unpack1("N")
        masked = payload.byteslice(0, words * 4).unpack("N*").map! { |w| w ^ key }.pack("N*")
        tail = payload.byteslice(words * 4..).bytes.each_with_index.map { |b, i| b ^ mask.getbyte(i) }
        masked << tail.pack("C*")
      end

      def monotonic = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    end
  end

  class Server
    # Open a test {Testing::Client} to `path` on this server (needs `require "spikard/testing"`).
    # @param path [String]
    # @param headers [Hash]
    # @return [Testing::Client]
    def connect(path, headers: {}, timeout: 5, answer_pings: true, protocols: [])
      client = Testing::Client.connect(url(path), headers: headers, timeout: timeout, answer_pings: answer_pings,
                                                  protocols: protocols)
      test_clients << client
      client
    end

    # The clients {#connect} opened (dropped by {Testing.serve} before it stops the server).
    # @return [Array<Testing::Client>]
    def test_clients
      @test_clients ||= []
    end
  end
end
