# frozen_string_literal: true

require_relative "lib/spikard/version"

# `gem build` (from any directory: `gem build path/to/packages/ruby/spikard.gemspec`) first vendors
# the Rust workspace and its crates into ext/spikard/vendor (build/vendor.rb), then packs from this
# directory, where the gem is written. Loading this file anywhere else (Bundler, Gem::Specification
# .load) changes nothing on disk.
if defined?(Gem::Commands::BuildCommand)
  require_relative "build/vendor"
  SpikardVendor.run if SpikardVendor.checkout?
  Dir.chdir(__dir__) # Gem::Package reads spec.files relative to the working directory
end

Gem::Specification.new do |spec|
  spec.name = "spikard"
  spec.version = Spikard::VERSION
  spec.summary = "WebSocket routes in Ruby on a Rust core: JSON Schema validation, limits and shutdown in Rust."
  spec.description = <<~TEXT
    Spikard serves WebSockets from one Rust core (axum + tokio) and validates every message against
    JSON Schema in Rust. This gem drives it with blocks and handler classes; the core runs with the
    GVL released and calls Ruby on dispatcher threads, in batches.
  TEXT
  spec.authors = ["The Spikard authors"]
  spec.license = "MIT"
  spec.homepage = "https://github.com/spikard/spikard"
  spec.required_ruby_version = ">= 3.1"
  spec.metadata = {
    "homepage_uri" => spec.homepage,
    "source_code_uri" => "https://github.com/spikard/spikard/tree/main/packages/ruby",
    "documentation_uri" => "https://github.com/spikard/spikard/blob/main/docs/ruby.md",
    "bug_tracker_uri" => "https://github.com/spikard/spikard/issues",
    "changelog_uri" => "https://github.com/spikard/spikard/commits/main",
    "rubygems_mfa_required" => "true"
  }

  spec.files = Dir.chdir(__dir__) do
    Dir.glob(["LICENSE.txt", "README.md", "lib/**/*.rb", "sig/**/*.rbs", "exe/*", "ext/spikard/extconf.rb",
              "ext/spikard/vendor/**/*"], File::FNM_DOTMATCH)
       .reject { |f| File.directory?(f) || f.include?("/target/") || f.end_with?("/.") }
  end
  spec.require_paths = ["lib"]
  spec.bindir = "exe"
  spec.executables = ["spikard-asyncapi"] # prints an app's AsyncAPI document (Spikard::CLI)
  spec.extensions = ["ext/spikard/extconf.rb"]
end
