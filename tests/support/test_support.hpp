#pragma once

// Shared helpers: tests load steps through the real plugin registry, run
// them the way the runner does, and run the real `runner` binary.

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "executor.hpp"
#include "facet/artifact.hpp"
#include "plugin_registry.hpp"

namespace facet::test {

namespace fs = std::filesystem;

/// The plugins of this build tree, loaded once.
const PluginRegistry& registry();

/// A fresh, empty folder for one test (unique to this process).
fs::path temp_dir(const std::string& name);

/// Runs step `name` from its plugin with parameters from a YAML `with:`
/// mapping, like the runner does; outputs come back read from their file,
/// the step's metrics into `metrics` where given.
Artifacts run_step(const std::string& name, const Artifacts& inputs, const std::string& with_yaml = "{}",
                   std::uint64_t seed = 1, std::map<std::string, double>* metrics = nullptr);

/// Output (stdout and stderr together) and exit status of a command.
struct CommandResult {
  int status = -1;
  std::string output;
};
/// Runs a shell command in `cwd`.
CommandResult run_command(const std::string& command, const fs::path& cwd);
/// Runs the real runner binary with `args` in `cwd`.
CommandResult run_runner(const std::string& args, const fs::path& cwd);
/// The runner binary's path, quoted for a shell.
std::string runner_command();
/// Runs the shell `script` in `cwd` as root of a private user and mount
/// namespace (`unshare -rm`): it may mount a small or read-only tmpfs, which
/// disappears with it. nullopt where this machine allows no such namespace.
std::optional<CommandResult> run_in_mount_namespace(const std::string& script, const fs::path& cwd);

std::string read_text(const fs::path& file);
void write_text(const fs::path& file, const std::string& text);

/// A copy of `artifact` without its tensor `name`: a model as saved before
/// that tensor existed.
Artifact without_tensor(const Artifact& artifact, const std::string& name);

/// The inputs every generator step takes (`images`, `attributes`, `split`)
/// for 96 synthetic faces of 8 persons at `size` pixels.
Artifacts generator_inputs(std::int64_t size);

/// Path of a file in the source tree.
fs::path source_path(const std::string& relative);

/// PubFig's real index files, beside the project (../shared/data/pubfig) or
/// where FACET_PUBFIG_INDEX points.
fs::path pubfig_index_dir();

/// While it lives, facet reads a stand-in /proc/cpuinfo (FACET_CPUINFO) of a
/// CPU with or without native bfloat16 units, named "Test CPU with bf16" or
/// "Test CPU without bf16".
class StandInCpu {
 public:
  explicit StandInCpu(bool bf16);
  ~StandInCpu();
  StandInCpu(const StandInCpu&) = delete;
  StandInCpu& operator=(const StandInCpu&) = delete;
};

/// A shell command running in the background (a test server), stopped when
/// this goes out of scope. Construction waits for its first line of output.
class BackgroundProcess {
 public:
  explicit BackgroundProcess(const std::string& command);
  ~BackgroundProcess();
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;
  const std::string& first_line() const { return first_line_; }

 private:
  int pid_ = -1;
  std::string first_line_;
};

}  // namespace facet::test
