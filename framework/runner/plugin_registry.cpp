#include "plugin_registry.hpp"

#include <algorithm>
#include <cstdlib>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <boost/dll/library_info.hpp>
#include <boost/dll/runtime_symbol_info.hpp>

#include "facet/errors.hpp"
#include "facet/export.hpp"

namespace facet {
namespace fs = std::filesystem;
namespace dll = boost::dll;

namespace {
bool looks_like_library(const fs::path& p) {
  const auto name = p.filename().string();
  return p.extension() == ".so" || name.find(".so.") != std::string::npos;
}

/// True when the file exports facet's plugin entry, read from its symbol
/// table without loading it (so foreign libraries never run their code).
bool exports_facet_entry(const fs::path& file) {
  dll::library_info info(boost::dll::fs::path(file.string()), /*throw_if_not_native=*/true);
  const auto symbols = info.symbols();
  return std::find(symbols.begin(), symbols.end(), "facet_plugin_abi") != symbols.end();
}
}  // namespace

void PluginRegistry::load_dirs(const std::vector<fs::path>& dirs) {
  for (const auto& dir : dirs) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
      problems_.push_back({false, fmt::format("plugin folder {} {}; skipped", dir.string(),
                                              fs::exists(dir, ec) ? "is not a folder" : "does not exist")});
      continue;
    }
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      if (entry.is_regular_file() && looks_like_library(entry.path())) files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& file : files) load_file(file);
  }
}

void PluginRegistry::load_file(const fs::path& file) {
  try {
    if (!exports_facet_entry(file)) {
      problems_.push_back(
          {false, fmt::format("{}: not a facet plugin (no facet_plugin_abi entry); skipped", file.string())});
      return;
    }
  } catch (const std::exception&) {
    problems_.push_back({false, fmt::format("{}: not a loadable shared library; skipped", file.string())});
    return;
  }
  dll::shared_library lib;
  try {
    lib.load(dll::fs::path(file.string()), dll::load_mode::rtld_lazy | dll::load_mode::rtld_local);
  } catch (const std::exception& e) {
    problems_.push_back({true, fmt::format("{}: cannot be loaded: {}", file.string(), e.what())});
    return;
  }
  const auto abi = lib.get_alias<std::uint32_t()>("facet_plugin_abi")();
  if (abi != FACET_SDK_ABI_VERSION) {
    problems_.push_back({true, fmt::format("{}: built against facet SDK ABI {}, this runner has ABI {}; "
                                           "rebuild the plugin against this SDK",
                                           file.string(), abi, FACET_SDK_ABI_VERSION)});
    return;  // unloaded here: nothing from it was created
  }
  // Everything the library says about its steps is read before any is
  // registered: a library that fails half-way contributes nothing.
  std::vector<RegisteredStep> found;
  try {
    if (!lib.has("facet_plugin_steps")) {
      throw Error("it exports facet_plugin_abi but no facet_plugin_steps; was it built with FACET_REGISTER_STEP?");
    }
    const auto* factories = lib.get_alias<const std::vector<StepFactory>*()>("facet_plugin_steps")();
    for (StepFactory factory : *factories) found.push_back({factory()->info(), factory, file});
  } catch (const std::exception& e) {
    found.clear();
    problems_.push_back({false, fmt::format("{}: skipped: {}", file.string(), e.what())});
  } catch (...) {
    found.clear();
    problems_.push_back({false, fmt::format("{}: skipped: describing its steps threw something that is not a "
                                            "std::exception",
                                            file.string())});
  }
  // Kept loaded even when skipped: what it threw may still refer to its code.
  libraries_.push_back(std::move(lib));
  for (auto& step : found) {
    auto [it, inserted] = steps_.emplace(step.info.name, step);
    if (!inserted) {
      problems_.push_back({false, fmt::format("{}: step '{}' is already provided by {}; this one is ignored",
                                              file.string(), step.info.name, it->second.library.string())});
    }
  }
}

const RegisteredStep* PluginRegistry::find(const std::string& name) const {
  auto it = steps_.find(name);
  return it == steps_.end() ? nullptr : &it->second;
}

std::vector<std::string> PluginRegistry::names() const {
  std::vector<std::string> names;
  for (const auto& entry : steps_) names.push_back(entry.first);
  return names;
}

std::vector<fs::path> plugin_search_path(const std::vector<std::string>& cli_paths) {
  std::vector<fs::path> dirs(cli_paths.begin(), cli_paths.end());
  if (const char* env = std::getenv("FACET_PLUGIN_PATH")) {
    std::string value = env;
    size_t start = 0;
    while (start <= value.size()) {
      const size_t end = std::min(value.find(':', start), value.size());
      if (end > start) dirs.emplace_back(value.substr(start, end - start));
      start = end + 1;
    }
  }
  // Installed layout: <prefix>/bin/runner and <prefix>/lib/facet/plugins;
  // build tree: <build>/bin/runner and <build>/lib/facet/plugins as well.
  const fs::path exe = dll::program_location().string();
  dirs.push_back(exe.parent_path().parent_path() / "lib" / "facet" / "plugins");
  // One folder named twice (the default one on the command line, say) is searched once.
  std::vector<fs::path> unique;
  std::set<fs::path> seen;
  for (const auto& dir : dirs) {
    std::error_code ignored;
    if (seen.insert(fs::weakly_canonical(dir, ignored)).second) unique.push_back(dir);
  }
  return unique;
}

}  // namespace facet
