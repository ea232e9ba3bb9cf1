# frozen_string_literal: true

require "fileutils"
require "rubygems/package"
require "tmpdir"

# The precompiled gem: spikard.gemspec's gem for this platform (`x86_64-linux` here) with the
# compiled extension at lib/spikard/spikard_native.so instead of the extension's sources, so that
# installing it compiles nothing. The library is built against this Ruby's ABI, so the gem asks
# for this Ruby's minor version (`~> 3.1.0` with Debian's Ruby 3.1).
module SpikardPlatformGem
  ROOT = File.expand_path("..", __dir__)
  LIBRARY = "lib/spikard/spikard_native.#{RbConfig::CONFIG['DLEXT']}".freeze

  # Build the gem from the compiled library at `library` into `out_dir`; `strip_debug` drops its
  # debug info first (`strip --strip-debug`, for debug builds). Returns the gem's path.
  def self.build(library:, out_dir:, strip_debug: false)
    raise ArgumentError, "spikard: no compiled library at #{library}" unless File.file?(library)

    spec = platform_spec
    Dir.mktmpdir("spikard-gem") do |stage|
      (spec.files - [LIBRARY]).each do |file|
        FileUtils.mkdir_p(File.join(stage, File.dirname(file)))
        FileUtils.cp(File.join(ROOT, file), File.join(stage, file))
      end
      FileUtils.cp(library, File.join(stage, LIBRARY))
      if strip_debug && !system("strip", "--strip-debug", File.join(stage, LIBRARY))
        raise "spikard: strip --strip-debug failed"
      end

      built = Dir.chdir(stage) { File.expand_path(Gem::Package.build(spec)) }
      FileUtils.mkdir_p(out_dir)
      FileUtils.mv(built, out_dir)
      File.join(out_dir, File.basename(built))
    end
  end

  def self.platform_spec
    spec = Gem::Specification.load(File.join(ROOT, "spikard.gemspec")).dup
    spec.platform = Gem::Platform.local
    spec.extensions = []
    spec.files = spec.files.reject { |file| file.start_with?("ext/") } + [LIBRARY]
    spec.required_ruby_version = "~> #{RbConfig::CONFIG['MAJOR']}.#{RbConfig::CONFIG['MINOR']}.0"
    spec
  end

  private_class_method :platform_spec
end
