#pragma once

#include <filesystem>
#include <map>
#include <set>
#include <string>

#include <torch/types.h>

#include "pipeline.hpp"
#include "run_log.hpp"

namespace facet {

struct RunOptions {
  bool dry_run = false;
  bool no_cache = false;
  std::string until;            ///< run only this step and what it needs
  std::set<std::string> rerun;  ///< recompute these and every step downstream of them
  std::filesystem::path cache_dir = ".facet-cache";
  std::filesystem::path runs_dir = "runs";
  std::filesystem::path run_dir;  ///< when set, the run folder itself (sweeps); else runs_dir/<name>/<timestamp>
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

/// One step execution: the validated step and what the runner derived for it.
struct StepRun {
  const StepConfig& step;
  std::uint64_t seed = 0;
  std::string key;  ///< cache key recorded in the output file
  torch::Device device = torch::kCPU;
  int threads = 1;
  std::filesystem::path run_dir;
};

/// Runs one step and writes its outputs atomically to `file` as a cache
/// entry; returns them as read back from that file (so fresh and cached
/// results behave alike). Throws what the step throws, facet::Cancelled on
/// Ctrl-C; nothing is left at `file` then.
Artifacts run_step(const StepRun& run, const Artifacts& inputs, const std::filesystem::path& file, RunLog& log,
                   std::map<std::string, double>* metrics = nullptr);

/// Runs (or with dry_run, plans) a validated pipeline. Returns an exit code.
int execute(const Pipeline& pipeline, const RunOptions& options, RunLog& log, RunSummary* summary = nullptr);

/// Intra-op threads for a requested count: 0 means one per core.
int intra_op_threads(int requested);

/// Writes a step's saved file (bytes as a uint8 tensor) to `path`.
void write_bytes(const torch::Tensor& bytes, const std::filesystem::path& path);

/// Seed of one step: derived from the pipeline seed and the step id.
std::uint64_t derive_seed(std::uint64_t pipeline_seed, const std::string& step_id);

}  // namespace facet
