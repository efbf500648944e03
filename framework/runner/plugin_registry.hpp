#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/dll/shared_library.hpp>

#include "facet/step.hpp"

namespace facet {

/// A step found in a plugin library.
struct RegisteredStep {
  StepInfo info;
  StepFactory factory = nullptr;
  std::filesystem::path library;
};

/// A problem met while loading plugins; the other plugins still load.
struct PluginProblem {
  bool is_error = false;  ///< an error (ABI mismatch) rather than a warning (not a plugin)
  std::string message;
};

/// Loads plugin libraries with Boost.DLL and indexes their steps by name.
/// Libraries stay loaded for the registry's lifetime, which is the process's:
/// objects, vtables and exceptions from a plugin never outlive its code.
class PluginRegistry {
 public:
  /// Loads every shared library in `dirs` (in order; the first step of a
  /// name wins, later duplicates are reported).
  void load_dirs(const std::vector<std::filesystem::path>& dirs);
  /// Loads one library file.
  void load_file(const std::filesystem::path& file);

  const RegisteredStep* find(const std::string& name) const;
  const std::map<std::string, RegisteredStep>& steps() const { return steps_; }
  const std::vector<PluginProblem>& problems() const { return problems_; }
  std::vector<std::string> names() const;

 private:
  std::vector<boost::dll::shared_library> libraries_;
  std::map<std::string, RegisteredStep> steps_;
  std::vector<PluginProblem> problems_;
};

/// The plugin search path: --plugin-path entries, then FACET_PLUGIN_PATH
/// (colon-separated), then the plugin folder installed next to the runner.
std::vector<std::filesystem::path> plugin_search_path(const std::vector<std::string>& cli_paths);

}  // namespace facet
