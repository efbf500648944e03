#pragma once

// One execution of one step: the Context it sees, its outputs checked
// against its declared contract and written as a cache entry.

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include <torch/types.h>

#include "facet/artifact.hpp"
#include "facet/group.hpp"
#include "pipeline.hpp"
#include "run_log.hpp"

namespace facet {

/// One step execution: the validated step and what the runner derived for it.
struct StepRun {
  const StepConfig& step;
  std::uint64_t seed = 0;
  std::string key;  ///< cache key recorded in the output file
  torch::Device device = torch::kCPU;
  int threads = 1;
  std::filesystem::path run_dir;
  /// The ranks running a Sharded or DataParallel step together; null: this process alone.
  Group* group = nullptr;
};

/// Runs one step and writes its outputs atomically to `file` as a cache
/// entry; returns them as read back from that file (so fresh and cached
/// results behave alike). Throws what the step throws, facet::Cancelled on
/// Ctrl-C; nothing is left at `file` then.
Artifacts run_step(const StepRun& run, const Artifacts& inputs, const std::filesystem::path& file, RunLog& log,
                   std::map<std::string, double>* metrics = nullptr);

/// Runs one step on a rank other than 0 of its group: it takes part in the
/// collective operations, and its outputs, files and metrics are dropped
/// (create_rows writes nothing). Its torch generator starts from a seed of
/// its own (dropout, noise), so the ranks do not repeat each other.
void run_step_on_other_rank(const StepRun& run, const Artifacts& inputs, RunLog& log);

/// Seed of one step: derived from the pipeline seed and the step id.
std::uint64_t derive_seed(std::uint64_t pipeline_seed, const std::string& step_id);

}  // namespace facet
