# frozen_string_literal: true

# Builds the native extension (bindings/ruby, magnus + rb-sys) with cargo and installs it as
# spikard/spikard_native.<dlext>, the name its `#[magnus::init(name = "spikard_native")]` gives
# Ruby. Needs only Ruby's mkmf, a Rust toolchain and libclang (bindgen).
#
# The workspace is, in order: $SPIKARD_WORKSPACE, the crates vendored into ./vendor by
# `rake vendor` (in a packaged gem), or the repository this file sits in.
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
product = "spikard_native.#{RbConfig::CONFIG['DLEXT']}"

# RubyGems points sitearchdir at the gem's extension directory (through RbConfig, as for any
# mkmf Makefile); `make install` copies the library there.
File.write("Makefile", <<~MAKE)
  CARGO ?= cargo
  RUBY = #{RbConfig.ruby}
  sitearchdir = #{RbConfig::CONFIG['sitearchdir']}

  all: #{product}

  #{product}:
  \tRUBY=$(RUBY) $(CARGO) build --release --manifest-path #{File.join(workspace, 'Cargo.toml')} -p spikard-ruby --target-dir #{target}
  \tcp #{File.join(target, 'release', built)} #{product}

  install: #{product}
  \tmkdir -p $(sitearchdir)/spikard
  \tcp #{product} $(sitearchdir)/spikard/#{product}

  clean:
  \trm -f #{product}

  .PHONY: all install clean
MAKE
