#pragma once

// Several processes running one pipeline together, with torchrun's
// conventions: the ranks meet at a TCPStore hosted by rank 0
// (MASTER_ADDR:MASTER_PORT), check they run the same pipeline on a shared
// cache, and build torch's c10d process groups (Gloo, and NCCL for CUDA
// tensors where LibTorch has it). The runner's ranks coordinate their steps
// through the store: rank 0 decides and runs, the others follow.

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <torch/types.h>

#include "facet/group.hpp"

namespace facet {

/// Where this process stands among the ranks of a run.
struct WorldSpec {
  int rank = 0;
  int size = 1;
  int local_rank = 0;
  int local_size = 1;  ///< ranks on this machine
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  std::chrono::seconds timeout{300};  ///< rendezvous, and a collective operation waiting for a lost rank
};

/// The spec from the environment: RANK, WORLD_SIZE, LOCAL_RANK,
/// LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT (torchrun, or the runner's own
/// launcher), else Slurm's SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID and
/// SLURM_NTASKS_PER_NODE (srun). FACET_DIST_TIMEOUT (seconds) sets the
/// timeout. A size of one when none is set. Throws facet::Error naming a
/// variable that is malformed.
WorldSpec world_from_environment();

/// The joined ranks of a run (size > 1).
class World {
 public:
  /// Meets the other ranks, checks every rank runs the pipeline of hash
  /// `pipeline_hash` and sees `cache_dir` as rank 0 does (a shared folder
  /// across machines), and builds the process groups. Throws facet::Error
  /// naming the rank and the cause: a rendezvous that times out, a port in
  /// use, another pipeline, a cache that is not shared.
  static std::unique_ptr<World> join(const WorldSpec& spec, const std::string& pipeline_hash,
                                     const std::filesystem::path& cache_dir);
  virtual ~World() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  /// The c10d group of every rank.
  virtual Group& group() = 0;
  /// Coordination through the store: a value every rank can read.
  virtual void publish(const std::string& key, const std::string& value) = 0;
  /// Waits for `key` (no time limit: rank 0 may run a long step meanwhile),
  /// polling `cancelled`; throws facet::Error when rank 0's store is gone.
  virtual std::string await(const std::string& key, const std::function<bool()>& cancelled) = 0;
  /// The value of `key`, or "" when no rank set it.
  virtual std::string peek(const std::string& key) = 0;
  /// The end of the run: rank 0 hosts the store, so it waits (up to the
  /// timeout) until every other rank still alive has said it is done with it.
  virtual void finish() = 0;
  /// The other ranks whose heartbeat stopped (killed, or their machine
  /// lost); takes about two seconds to tell.
  virtual std::vector<int> lost_ranks() = 0;
};

}  // namespace facet
