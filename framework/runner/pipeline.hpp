#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "facet/errors.hpp"
#include "facet/params.hpp"
#include "plugin_registry.hpp"

namespace facet {

/// A connection `STEP.OUTPUT` into one input of a step.
struct InputRef {
  std::string step;
  std::string output;
};

/// One validated step of a pipeline.
struct StepConfig {
  std::string id;
  const RegisteredStep* step = nullptr;
  Params params;                           ///< every declared parameter, defaults filled in
  std::map<std::string, InputRef> inputs;  ///< connected inputs by input name
  std::string where;                       ///< "file:line:col" of the step's id
};

/// A pipeline checked against the registry: steps in a runnable order.
struct Pipeline {
  std::filesystem::path file;
  std::string name;
  std::uint64_t seed = 0;
  std::string device = "cpu";
  int threads = 0;                 ///< 0: one per core
  std::string precision = "auto";  ///< as written; each step's `precision` parameter holds it resolved
  std::vector<StepConfig> steps;   ///< topological order, file order among independent steps

  /// The step with id `id`, or nullptr.
  const StepConfig* find(const std::string& id) const;
  /// Appends a step (the parser builds pipelines through this).
  void add_step(StepConfig step);

 private:
  std::unordered_map<std::string, std::size_t> index_;  ///< step id -> position in `steps`
};

/// Every problem found in a pipeline, one line each ("file:line:col: error: ...").
class PipelineError : public Error {
 public:
  explicit PipelineError(std::vector<std::string> messages);
  const std::vector<std::string>& messages() const { return messages_; }

 private:
  std::vector<std::string> messages_;
};

/// Parses `file`, applies `--set path=value` overrides and validates it
/// completely (syntax, steps, parameters, wiring, cycles, device) before
/// anything runs. Throws PipelineError listing every problem.
Pipeline load_pipeline(const std::filesystem::path& file, const std::vector<std::string>& overrides,
                       const PluginRegistry& registry);

/// Parameters of one step from a YAML `with:` mapping ("{count: 10}"),
/// validated and completed with defaults exactly as in a pipeline.
Params parse_step_params(const RegisteredStep& step, const std::string& with_yaml);

/// How the pipeline's precision resolves on this machine, for the run log
/// ("precision auto: bf16, <CPU> has native bfloat16 units").
std::string precision_summary(const Pipeline& pipeline);

/// The fully resolved pipeline as YAML (all parameters, defaults included).
std::string resolved_yaml(const Pipeline& pipeline);

}  // namespace facet
