# frozen_string_literal: true

require_relative "spec_helper"

# Every shared fixture, loaded when the suite runs, against a real server and real clients.
FIXTURE_FILES = Dir[File.join(REPO_ROOT, "fixtures", "websocket", "*.json")].sort

# Issue 20: dispatch by message type is in the core (and the Rust runner) but not yet in the
# gem. These fixtures are skipped here, reported as skipped with this reason, until it is; then
# delete this list (and its use below).
PENDING_DISPATCH = %w[
  dispatch_ack_id_echo
  dispatch_branch_schema_failure
  dispatch_custom_discriminator
  dispatch_missing_discriminator
  dispatch_reply_schema_per_branch
  dispatch_unknown_type
  dispatch_valid_branch
].freeze
PENDING_DISPATCH_REASON = "issue 20: dispatch not yet in ruby"

RSpec.describe "shared fixtures" do
  it "finds the fixture corpus" do
    expect(FIXTURE_FILES.size).to be >= 30
  end

  FIXTURE_FILES.each do |file|
    name = File.basename(file, ".json")
    fixture = begin
      JSON.parse(File.read(file))
    rescue JSON::ParserError => e
      e
    end
    reason = fixture.is_a?(Hash) ? fixture.dig("skip", FixtureRunner::LANGUAGE) : nil
    reason ||= PENDING_DISPATCH_REASON if PENDING_DISPATCH.include?(name)

    it name do
      skip(reason) if reason
      raise fixture if fixture.is_a?(Exception)

      expect(fixture["name"]).to eq(name)
      FixtureRunner.new(fixture).run
    end
  end
end
