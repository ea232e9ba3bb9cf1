# frozen_string_literal: true

require_relative "spec_helper"

# Every shared fixture, loaded when the suite runs, against a real server and real clients.
FIXTURE_FILES = Dir[File.join(REPO_ROOT, "fixtures", "websocket", "*.json")].sort

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

    it name do
      skip(reason) if reason
      raise fixture if fixture.is_a?(Exception)

      expect(fixture["name"]).to eq(name)
      FixtureRunner.new(fixture).run
    end
  end
end
