# frozen_string_literal: true

require_relative "lib/spikard/version"

Gem::Specification.new do |spec|
  spec.name = "spikard"
  spec.version = Spikard::VERSION
  spec.summary = "WebSocket routes in Ruby on a Rust core: JSON Schema validation, limits and shutdown in Rust."
  spec.description = <<~TEXT
    Spikard serves WebSockets from one Rust core (axum + tokio) and validates every message against
    JSON Schema in Rust. This gem drives it with blocks and handler classes; the core runs with the
    GVL released and calls Ruby on dispatcher threads, in batches.
  TEXT
  spec.authors = ["Spikard contributors"]
  spec.license = "MIT"
  spec.homepage = "https://github.com/spikard/spikard"
  spec.required_ruby_version = ">= 3.1"
  spec.metadata["rubygems_mfa_required"] = "true"

  spec.files = Dir["lib/**/*.rb", "sig/**/*.rbs", "ext/spikard/extconf.rb", "ext/spikard/vendor/**/*"]
                 .reject { |f| f.include?("/vendor/target/") }
  spec.require_paths = ["lib"]
  spec.extensions = ["ext/spikard/extconf.rb"]
end
