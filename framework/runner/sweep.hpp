#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "executor.hpp"
#include "plugin_registry.hpp"

namespace facet {

/// A sweep: one pipeline run once per combination of varied values.
///
///   name: finetune_depth
///   pipeline: ../pipelines/baseline.yaml      # relative to the sweep file
///   set: [steps.backbone.with.epochs=8]       # applied to every run (optional)
///   vary:
///     steps.backbone.with.trainable_from: [heads, fc7, fc6, conv5_1, all]
///   collect: [evaluation.mean_accuracy]       # STEP.METRIC, tabulated; the first is plotted
struct Sweep {
  std::filesystem::path file;
  std::string name;
  std::filesystem::path pipeline;
  std::vector<std::string> sets;
  std::vector<std::pair<std::string, std::vector<std::string>>> vary;  ///< path, values (YAML text)
  std::vector<std::string> collect;
};

/// Parses a sweep file; errors as PipelineError with file:line:col.
Sweep load_sweep(const std::filesystem::path& file);

/// Validates every variant first, then runs them one after the other (each
/// reusing the cache), and writes summary.csv, summary.md and summary.png
/// to runs_dir/<sweep>/<timestamp>/. Returns an exit code.
int run_sweep(const Sweep& sweep, const std::vector<std::string>& overrides, const RunOptions& options,
              const PluginRegistry& registry, RunLog& log);

}  // namespace facet
