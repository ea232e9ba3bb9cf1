# frozen_string_literal: true

require "json"
require "optparse"
require_relative "../spikard"

module Spikard
  # The `spikard-asyncapi` command: prints the AsyncAPI document of the app a Ruby file defines.
  #
  #   spikard-asyncapi [--title TITLE] [--version VERSION] FILE[:CONSTANT]
  #
  # The file is loaded as `ruby FILE` would run it, except that no server starts: the app is the
  # first one the file runs or starts ({App#run}, {App#start}, which here stop the loading
  # instead), else the one named by `:CONSTANT` (e.g. `app.rb:MyApp::APP`), else the only
  # {App} the file created. Nothing is served and no port is opened.
  module CLI
    # Raised for a command line that names no usable app (printed without a backtrace).
    class UsageError < StandardError; end

    # Stops the loading of the file at the app's first `run` or `start`.
    module Intercept
      # @return [void]
      def initialize(...)
        super
        CLI.created << self
      end

      # @return [void]
      def run(**) = throw(RUN, self)

      # @return [void]
      def start(**) = throw(RUN, self)
    end
    private_constant :Intercept

    RUN = :spikard_cli_run
    private_constant :RUN

    class << self
      # The apps created while the file loads.
      # @api private
      # @return [Array<App>]
      def created = (@created ||= [])

      # Run the command: print the document to `out`.
      # @param argv [Array<String>]
      # @param out [IO]
      # @return [Integer] the exit status (0, or 1 with a message on `err`)
      def asyncapi(argv, out: $stdout, err: $stderr)
        info = {}
        parser = OptionParser.new do |opts|
          opts.banner = "usage: spikard-asyncapi [--title TITLE] [--version VERSION] FILE[:CONSTANT]"
          opts.on("--title TITLE", "the document's info.title (default \"Spikard app\")") { |v| info["title"] = v }
          opts.on("--version VERSION", "the document's info.version (default \"0.0.0\")") { |v| info["version"] = v }
        end
        args = parser.parse(argv)
        raise UsageError, parser.banner unless args.size == 1

        out.puts(JSON.pretty_generate(find_app(args.first).asyncapi(info.empty? ? nil : info)))
        0
      rescue UsageError, OptionParser::ParseError, Spikard::Error => e
        err.puts("spikard-asyncapi: #{e.message}")
        1
      end

      private

      def find_app(target)
        file, constant = target.match(/\A(.+?)(?::([A-Z][\w:]*))?\z/).captures
        raise UsageError, "no such file: #{file}" unless File.file?(file)

        App.prepend(Intercept)
        created.clear
        ran = catch(RUN) do
          load(File.expand_path(file))
          nil
        end
        ran || (constant && named(constant)) || only_app(file)
      end

      def named(constant)
        app = Object.const_get(constant)
        raise UsageError, "#{constant} is a #{app.class}, not a Spikard::App" unless app.is_a?(App)

        app
      rescue NameError
        raise UsageError, "#{constant} is not defined"
      end

      def only_app(file)
        return created.first if created.size == 1

        raise UsageError, "#{file} created #{created.size} apps and ran none: name one as #{file}:CONSTANT"
      end
    end
  end
end
