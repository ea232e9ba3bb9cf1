# frozen_string_literal: true

require_relative "spec_helper"
require "open3"
require "tmpdir"

# The precompiled gem as users get it: `rake native_gem` packs the library `task ruby:build`
# compiled (debug, its debug info stripped; `task ruby:gem` packs a release build), then
# `gem install --local` puts it into an empty GEM_HOME and the README's example runs from there,
# without lib/ on the load path. (The source gem compiles for many minutes at install:
# `task ruby:test:source-gem` checks it, outside `task test`.)
RSpec.describe "the precompiled platform gem" do
  let(:gem_dir) { File.expand_path("..", __dir__) }
  let(:library) { File.join(gem_dir, "lib", "spikard", "spikard_native.#{RbConfig::CONFIG['DLEXT']}") }

  def run!(env, *command, chdir:)
    output, status = Open3.capture2e(env, *command, chdir: chdir)
    raise "#{command.join(' ')} failed:\n#{output}" unless status.success?

    output
  end

  it "installs into an empty GEM_HOME in seconds, compiling nothing, and serves the README example" do
    Dir.mktmpdir("spikard-gem") do |dir|
      packed = run!({ "LIBRARY" => library, "STRIP_DEBUG" => "1" }, "rake", "native_gem", chdir: gem_dir)
      gem = packed.lines.last.strip
      expect(File.basename(gem)).to eq("spikard-#{Spikard::VERSION}-x86_64-linux.gem")
      FileUtils.mv(gem, dir)
      gem = File.join(dir, File.basename(gem))

      home = File.join(dir, "home")
      env = { "GEM_HOME" => home, "GEM_PATH" => home, "RUBYLIB" => nil, "RUBYOPT" => nil, "BUNDLE_GEMFILE" => nil }
      started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      run!(env, "gem", "install", "--local", "--no-document", gem, chdir: dir)
      expect(Process.clock_gettime(Process::CLOCK_MONOTONIC) - started).to be < 30
      installed = File.join(home, "gems", "spikard-#{Spikard::VERSION}-x86_64-linux")
      expect(Dir.children(installed).sort).to eq(%w[LICENSE.txt README.md exe lib sig])
      expect(Dir.glob(File.join(home, "extensions", "**", "*")).select { |f| File.file?(f) }).to eq([])

      loaded = run!(env, RbConfig.ruby, "-e", 'require "spikard"; puts $LOADED_FEATURES.grep(/spikard_native/)',
                    chdir: dir)
      expect(loaded.strip).to eq(File.join(installed, "lib", "spikard", "spikard_native.so"))

      # The gem's executable prints the chat example's AsyncAPI document, the shared one.
      printed = run!(env, File.join(home, "bin", "spikard-asyncapi"), "--title", "Spikard chat", "--version", "1.0.0",
                     File.join(REPO_ROOT, "examples", "ruby", "chat.rb"), chdir: dir)
      expect(JSON.parse(printed)).to eq(JSON.parse(File.read(File.join(REPO_ROOT, "fixtures", "asyncapi", "chat.json"))))

      readme = ruby_blocks(File.read(File.join(REPO_ROOT, "README.md"))).first
      expect(readme).not_to be_nil, "README.md has no Ruby example"
      run_chat_program(readme, env: env, load_path: nil)
    end
  end
end
