#pragma once

#include <memory>
#include <string>
#include <vector>

#include "facet/artifact.hpp"
#include "facet/context.hpp"
#include "facet/export.hpp"
#include "facet/params.hpp"

namespace facet {

/// A named input or output of a step.
struct FACET_API PortSpec {
  std::string name;
  std::string doc;
  bool optional = false;  ///< inputs only: may be left unconnected
};

/// How a step runs when the runner starts several processes (ranks).
enum class Parallelism {
  /// Rank 0 runs it; the other ranks wait for its outputs in the cache.
  Once,
  /// Every rank runs it on its share of the rows (Context::group(),
  /// for_each_chunk_in_order); rank 0's outputs equal one process's, so the
  /// cache key does not depend on the number of ranks.
  Sharded,
  /// Every rank trains on its share of each batch, gradients summed
  /// (GradientSum); rank 0's model is kept. Float rounding and per-rank batch
  /// norm make it depend a little on the number of ranks, which joins the key.
  DataParallel,
};

/// Everything the runner knows about a step without running it.
struct FACET_API StepInfo {
  std::string name;     ///< the name pipelines use in `uses:`
  std::string version;  ///< bump when outputs change for the same inputs: invalidates the cache
  std::string summary;  ///< one line, shown by `runner plugins`
  std::string role;     ///< steps of one role share an output contract ("dataset", "generator")
  std::vector<ParamSpec> params;
  std::vector<PortSpec> inputs;
  std::vector<PortSpec> outputs;
  Parallelism parallelism = Parallelism::Once;
};

/// The interface every step implements. The runner checks parameters and
/// wiring against info() before anything runs, so run() may rely on them.
class FACET_API Step {
 public:
  virtual ~Step() = default;
  virtual StepInfo info() const = 0;
  /// Computes the declared outputs from the connected inputs. Long loops
  /// report progress through ctx (which also makes them interruptible).
  virtual Artifacts run(const Artifacts& inputs, const Params& params, Context& ctx) = 0;
};

using StepFactory = std::unique_ptr<Step> (*)();

}  // namespace facet
