# frozen_string_literal: true

require_relative "spec_helper"
require "rbs"
require "spikard/cli"

# sig/spikard.rbs must name exactly the public methods each class defines (a small stubtest),
# so the signatures cannot drift from the code; `rbs validate` (task lint) checks the types.
RSpec.describe "RBS signatures" do
  let(:declarations) do
    loader = RBS::EnvironmentLoader.new
    loader.add(library: "logger") # Logger needs monitor (MonitorMixin) too
    loader.add(library: "monitor")
    loader.add(path: Pathname(File.expand_path("../sig", __dir__)))
    env = RBS::Environment.from_loader(loader).resolve_type_names
    env.class_decls.to_h { |name, entry| [name.to_s.delete_prefix("::"), entry.decls.map(&:decl)] }
  end

  # Public instance and singleton method names declared in `decls`.
  def declared(decls)
    instance = []
    singleton = []
    decls.each do |decl|
      visibility = :public
      decl.members.each do |member|
        case member
        when RBS::AST::Members::Private then visibility = :private
        when RBS::AST::Members::Public then visibility = :public
        when RBS::AST::Members::MethodDefinition
          next unless visibility == :public

          (member.singleton? ? singleton : instance) << member.name
        when RBS::AST::Members::AttrReader then instance << member.name
        when RBS::AST::Members::AttrAccessor then instance.push(member.name, :"#{member.name}=")
        when RBS::AST::Members::Alias then instance << member.new_name
        end
      end
    end
    [instance.sort, singleton.sort]
  end

  CLASSES = %w[
    Spikard::App Spikard::Route Spikard::Route::Builder Spikard::Server Spikard::WebSocket Spikard::Handler
    Spikard::Error Spikard::Rejection Spikard::PublishError Spikard::Native::Server Spikard::Testing::Client Spikard::Testing::Rejected
  ].freeze

  CLASSES.each do |name|
    it "declares exactly the public methods of #{name}" do
      klass = Object.const_get(name)
      instance, singleton = declared(declarations.fetch(name))
      actual = (klass.public_instance_methods(false) - %i[initialize]).sort
      expect(instance - %i[initialize]).to eq(actual)
      own_singleton = klass.singleton_methods(false) - %i[new allocate]
      expect(singleton.sort).to eq(own_singleton.sort)
    end
  end

  it "declares Spikard.app, Spikard::Testing.serve, Spikard::Native.check_schemas and Spikard::CLI.asyncapi" do
    { "Spikard" => Spikard, "Spikard::Testing" => Spikard::Testing, "Spikard::Native" => Spikard::Native,
      "Spikard::CLI" => Spikard::CLI }.each do |n, mod|
      expect(declared(declarations.fetch(n))[1]).to eq(mod.singleton_methods(false).sort)
    end
  end
end
