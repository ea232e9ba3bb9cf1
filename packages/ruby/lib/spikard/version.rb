# frozen_string_literal: true

module Spikard
  # The gem's version (the workspace's version).
  VERSION = "0.1.0"
end
