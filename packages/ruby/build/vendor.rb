# frozen_string_literal: true

require "digest"
require "fileutils"
require "open3"

# Puts into ext/spikard/vendor what the extension needs to compile without the repository and
# without the network: the Rust crates of the workspace it builds (the core, the Ruby binding,
# the Rust examples the core's manifest names), a workspace manifest with only those members, a
# Cargo.lock pruned to them (versions unchanged, so `cargo build --locked` accepts it), and every
# crates.io dependency unpacked by `cargo vendor` (registry/, with .cargo/config.toml pointing
# cargo at it). spikard.gemspec runs it under `gem build`; `rake vendor` runs it by hand.
module SpikardVendor
  REPO = File.expand_path("../../..", __dir__)
  DEST = File.expand_path("../ext/spikard/vendor", __dir__)
  SOURCES = %w[crates/spikard bindings/ruby examples/rust].freeze
  MEMBERS = %w[crates/spikard bindings/ruby].freeze

  # Whether this file sits in a checkout of the repository (the crates to vendor are there).
  def self.checkout? = File.exist?(File.join(REPO, "Cargo.lock")) && File.directory?(File.join(REPO, "bindings", "ruby"))

  # Refresh the vendored workspace; `cargo vendor` runs again only when the pruned lock changed.
  def self.run
    copy_workspace
    prune_lock
    vendor_crates
  end

  def self.copy_workspace
    SOURCES.each do |dir|
      target = File.join(DEST, dir)
      FileUtils.rm_rf(target)
      FileUtils.mkdir_p(File.dirname(target))
      FileUtils.cp_r(File.join(REPO, dir), target)
    end
    FileUtils.rm_rf(Dir[File.join(DEST, "**", "target")])
    manifest = File.read(File.join(REPO, "Cargo.toml"))
    members = manifest.sub(/^members = .*$/, "members = #{MEMBERS.inspect}")
    raise "spikard: the workspace manifest has no `members = [...]` line" if members == manifest

    File.write(File.join(DEST, "Cargo.toml"), members.sub(/^default-members = .*\n/, ""))
    FileUtils.cp(File.join(REPO, "Cargo.lock"), File.join(DEST, "Cargo.lock"))
  end

  # Any resolving cargo command drops the packages no member uses and keeps every other version.
  def self.prune_lock
    cargo("metadata", "--format-version", "1", "--offline", "--manifest-path", File.join(DEST, "Cargo.toml"))
  end

  def self.vendor_crates
    lock = File.read(File.join(DEST, "Cargo.lock"))
    stamp = File.join(DEST, "registry", ".lock-digest")
    return if File.exist?(stamp) && File.read(stamp) == Digest::SHA256.hexdigest(lock)

    FileUtils.rm_rf(File.join(DEST, "registry"))
    cargo("vendor", "--locked", "--manifest-path", File.join(DEST, "Cargo.toml"), File.join(DEST, "registry"))
    FileUtils.mkdir_p(File.join(DEST, ".cargo"))
    File.write(File.join(DEST, ".cargo", "config.toml"), <<~TOML)
      # Written by packages/ruby/build/vendor.rb: build from the crates unpacked in registry/.
      [source.crates-io]
      replace-with = "vendored-sources"

      [source.vendored-sources]
      directory = "registry"
    TOML
    File.write(stamp, Digest::SHA256.hexdigest(lock))
  end

  def self.cargo(*args)
    output, status = Open3.capture2e("cargo", *args)
    raise "spikard: cargo #{args.first} failed:\n#{output}" unless status.success?

    output
  end

  private_class_method :copy_workspace, :prune_lock, :vendor_crates, :cargo
end
