#pragma once

// `runner PIPELINE --nproc-per-node N`: torchrun's launcher, built in. It
// starts N workers (this program again, with RANK, LOCAL_RANK, WORLD_SIZE,
// LOCAL_WORLD_SIZE, MASTER_ADDR and MASTER_PORT set) and watches them.

#include <string>

namespace facet {

struct LaunchOptions {
  int nproc_per_node = 1;
  int nnodes = 1;
  int node_rank = 0;
  std::string master_addr;  ///< rank 0's machine; 127.0.0.1 on one machine
  int master_port = 0;      ///< 0: a free port (one machine only)
};

/// Starts the workers of this machine and waits for them. Ctrl-C is passed
/// on to them; when one fails or dies, the others are stopped (SIGTERM, then
/// SIGKILL after a grace period) and its exit status returned, with one line
/// on stderr naming the rank and the cause. Throws facet::Error for options
/// that do not fit together.
int launch_workers(const LaunchOptions& options, char** argv);

}  // namespace facet
