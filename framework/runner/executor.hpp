#pragma once

#include <filesystem>
#include <set>
#include <string>

#include "pipeline.hpp"
#include "run_log.hpp"

namespace facet {

struct RunOptions {
  bool dry_run = false;
  bool no_cache = false;
  std::string until;              ///< run only this step and what it needs
  std::set<std::string> rerun;    ///< recompute these even when cached
  std::filesystem::path cache_dir = ".facet-cache";
  std::filesystem::path runs_dir = "runs";
};

/// Exit codes of a pipeline run.
constexpr int kExitOk = 0;
constexpr int kExitStepFailed = 1;
constexpr int kExitBadInput = 2;
constexpr int kExitInterrupted = 130;

/// Runs (or with dry_run, plans) a validated pipeline. Returns an exit code.
int execute(const Pipeline& pipeline, const RunOptions& options, RunLog& log);

/// Seed of one step: derived from the pipeline seed and the step id.
std::uint64_t derive_seed(std::uint64_t pipeline_seed, const std::string& step_id);

}  // namespace facet
