#pragma once

#include <filesystem>
#include <map>
#include <set>
#include <string>

#include <torch/types.h>

#include "distributed.hpp"
#include "pipeline.hpp"
#include "run_log.hpp"
#include "step_run.hpp"

namespace facet {

struct RunOptions {
  bool dry_run = false;
  bool no_cache = false;
  std::string until;            ///< run only this step and what it needs
  std::set<std::string> rerun;  ///< recompute these and every step downstream of them
  std::filesystem::path cache_dir = ".facet-cache";
  std::filesystem::path runs_dir = "runs";
  std::filesystem::path run_dir;  ///< when set, the run folder itself (sweeps); else runs_dir/<name>/<timestamp>
  World* world = nullptr;         ///< the ranks of a run started on several processes; null: one process
  int local_rank = 0;             ///< this process among the ranks on this machine (its GPU)
  int local_ranks = 1;            ///< ranks on this machine (they share its cores)
};

/// What a run did, step by step (metrics.json holds the same).
struct RunSummary {
  int code = 0;
  std::filesystem::path run_dir;
  std::map<std::string, std::map<std::string, double>> metrics;  ///< step id -> metric -> value
};

/// Exit codes of a pipeline run.
constexpr int kExitOk = 0;
constexpr int kExitStepFailed = 1;
constexpr int kExitBadInput = 2;
constexpr int kExitInterrupted = 130;

/// Runs (or with dry_run, plans) a validated pipeline. Returns an exit code.
int execute(const Pipeline& pipeline, const RunOptions& options, RunLog& log, RunSummary* summary = nullptr);

/// Intra-op threads for a requested count: 0 means one per core, shared by
/// the `local_ranks` processes of a run on this machine.
int intra_op_threads(int requested, int local_ranks = 1);

/// Writes a step's saved file (bytes as a uint8 tensor) to `path`.
void write_bytes(const torch::Tensor& bytes, const std::filesystem::path& path);

}  // namespace facet
