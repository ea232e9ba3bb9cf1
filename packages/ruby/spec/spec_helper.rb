# frozen_string_literal: true

$LOAD_PATH.unshift(File.expand_path("../lib", __dir__))
require "stringio"
require "spikard"
require "spikard/testing"

# The repository root (fixtures, examples, README).
REPO_ROOT = File.expand_path("../../..", __dir__)

Dir[File.join(__dir__, "support", "*.rb")].sort.each { |file| require file }

RSpec.configure do |config|
  config.disable_monkey_patching!
  config.expect_with(:rspec) { |c| c.syntax = :expect }
  config.order = :defined
end
