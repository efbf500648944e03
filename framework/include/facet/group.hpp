#pragma once

// The processes a step runs in when the runner starts several of them
// (--nproc-per-node, or torchrun's and Slurm's variables): their ranks,
// collective operations over them (torch's c10d: Gloo on CPU, NCCL on GPU),
// and what data-parallel training needs on top of them.

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include <torch/nn/module.h>
#include <torch/types.h>

#include "facet/export.hpp"

namespace facet {

/// The ranks a step runs in. A run of one process, and a step that runs once
/// (Parallelism::Once), see a group of one whose operations return at once.
class FACET_API Group {
 public:
  virtual ~Group() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;

  /// A collective operation under way; wait() finishes it (and throws facet::Error when a rank failed).
  class Pending {
   public:
    virtual ~Pending() = default;
    virtual void wait() = 0;
  };
  /// Starts summing `tensor` over the ranks, in place.
  virtual std::unique_ptr<Pending> start_sum(torch::Tensor tensor) = 0;
  /// Every rank gets rank `root`'s values of `tensor`, in place.
  virtual void broadcast(torch::Tensor tensor, int root) = 0;
  /// The ranks' `part`s (same shape but the first dimension) concatenated in
  /// rank order, on rank `root`; an undefined tensor on the other ranks.
  virtual torch::Tensor gather_rows(const torch::Tensor& part, int root) = 0;
  virtual void barrier() = 0;

  /// Sums in place and waits.
  void sum(const torch::Tensor& tensor) { start_sum(tensor)->wait(); }
};

/// The group of one process.
FACET_API Group& single_process();

/// Rank `rank`'s share [begin, end) of `count` rows split over `size` ranks in
/// rank order: sizes differ by one at most, the first ranks take the extra
/// rows, and a rank gets none when there are fewer rows than ranks.
struct FACET_API Share {
  std::int64_t begin = 0;
  std::int64_t end = 0;
  std::int64_t size() const { return end - begin; }
};
FACET_API Share share_of(std::int64_t count, int rank, int size);

/// Data-parallel training of one module: made before training, it gives every
/// rank rank 0's parameters and buffers; after each backward pass finish()
/// leaves in every parameter's gradient the sum over the ranks. Gradients are
/// summed in buckets of about `bucket_bytes`, each started as soon as its last
/// gradient is computed, so the communication overlaps the rest of the
/// backward pass. Scale each rank's loss so that the sum is the
/// single-process gradient: divide a batch's summed loss by the row count of
/// the whole batch (every rank's rows), not by this rank's.
class FACET_API GradientSum {
 public:
  GradientSum(Group& group, torch::nn::Module& module, std::int64_t bucket_bytes = 25 << 20);
  ~GradientSum();
  GradientSum(const GradientSum&) = delete;
  GradientSum& operator=(const GradientSum&) = delete;
  /// After backward(), before the optimizer's step. A parameter no rank's
  /// loss reached keeps the gradient it had (as in one process).
  void finish();
  /// Every rank gets rank 0's buffers (batch norm's running statistics,
  /// which each rank updates from its own rows), as torch's
  /// DistributedDataParallel does: call before evaluating the model.
  void share_buffers();
  /// Seconds spent waiting for sums in finish() so far (the part not hidden behind backward).
  double wait_seconds() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

/// A forward pass over rows [0, `rows`) in chunks of `chunk` rows, shared out
/// round-robin over the group: rank r computes chunks r, r + size, ... and
/// rank 0 receives every chunk's outputs in row order, so it writes exactly
/// what one process computing the same chunks would. `compute(begin, end)`
/// returns the chunk's output tensors (rows first); `append` sees them in
/// order, on rank 0 only.
FACET_API void for_each_chunk_in_order(
    Group& group, std::int64_t rows, std::int64_t chunk,
    const std::function<std::vector<torch::Tensor>(std::int64_t begin, std::int64_t end)>& compute,
    const std::function<void(const std::vector<torch::Tensor>& outputs)>& append);

}  // namespace facet
