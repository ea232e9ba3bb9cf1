# frozen_string_literal: true

# Builds the native extension (bindings/ruby, magnus + rb-sys) with cargo and installs it as
# spikard/spikard_native.<dlext>, the name its `#[magnus::init(name = "spikard_native")]` gives
# Ruby. Needs only Ruby's mkmf, a Rust toolchain and libclang (bindgen).
#
# The workspace is, in order: $SPIKARD_WORKSPACE, the one vendored into ./vendor by `gem build`
# (packages/ruby/build/vendor.rb: the crates and every dependency, so the build is `--offline`),
# or the repository this file sits in. Cargo.lock is used as it is (`--locked`), and the cargo
# target directory (hundreds of MB) is deleted once the library is installed.
require "mkmf"
require "rbconfig"

here = __dir__
workspace = [ENV.fetch("SPIKARD_WORKSPACE", nil), File.join(here, "vendor"), File.expand_path("../../../..", here)]
            .compact.find { |dir| File.exist?(File.join(dir, "bindings", "ruby", "Cargo.toml")) }
abort "spikard: cannot find the Rust workspace (set SPIKARD_WORKSPACE)" unless workspace
abort "spikard: cargo is required to build the native extension (https://rustup.rs)" unless find_executable("cargo")

built = case RbConfig::CONFIG["host_os"]
        when /darwin/ then "libspikard_native.dylib"
        when /mswin|mingw/ then "spikard_native.dll"
        else "libspikard_native.so"
        end
target = File.join(Dir.pwd, "target")
vendored = File.exist?(File.join(workspace, ".cargo", "config.toml"))
cargo_flags = ["--release", "--locked", ("--offline" if vendored)].compact.join(" ")
product = "spikard_native.#{RbConfig::CONFIG['DLEXT']}"

# RubyGems points sitearchdir at the gem's extension directory (through RbConfig, as for any
# mkmf Makefile); `make install` copies the library there.
File.write("Makefile", <<~MAKE)
  CARGO ?= cargo
  RUBY = #{RbConfig.ruby}
  sitearchdir = #{RbConfig::CONFIG['sitearchdir']}

  all: #{product}

  # From the workspace's directory, so that cargo reads its .cargo/config.toml (the vendored crates).
  #{product}:
  \tcd #{workspace} && RUBY=$(RUBY) $(CARGO) build #{cargo_flags} -p spikard-ruby --target-dir #{target}
  \tcp #{File.join(target, 'release', built)} #{product}

  install: #{product}
  \tmkdir -p $(sitearchdir)/spikard
  \tcp #{product} $(sitearchdir)/spikard/#{product}
  \trm -rf #{target} #{product}

  clean:
  \trm -f #{product}

  .PHONY: all install clean
MAKE
