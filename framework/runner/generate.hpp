#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "plugin_registry.hpp"
#include "run_log.hpp"

namespace facet {

/// `runner generate`: faces for one attribute request from the generator of
/// a finished run, without training again.
struct GenerateOptions {
  std::filesystem::path from;  ///< the run folder (holds metrics.json)
  std::string attributes;      ///< "Male, Eyeglasses, Smiling"
  std::int64_t count = 16;
  std::filesystem::path out;  ///< the PNG to write
  std::string step;           ///< the generator step's id, when the run has several
  std::uint64_t seed = 1;
  std::filesystem::path cache_dir = ".facet-cache";
};

/// Finds the run's generator step and its cached model, runs the sampler
/// step the model names, and writes the faces as a PNG grid to `out`.
/// Throws facet::Error naming the culprit and the fix.
void generate(const GenerateOptions& options, const PluginRegistry& registry, RunLog& log);

}  // namespace facet
