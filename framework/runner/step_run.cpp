#include "step_run.hpp"

#include <fmt/format.h>
#include <torch/torch.h>

#include "cache.hpp"
#include "facet/artifact_file.hpp"
#include "facet/errors.hpp"
#include "scalars.hpp"

namespace facet {
namespace fs = std::filesystem;

std::uint64_t derive_seed(std::uint64_t pipeline_seed, const std::string& step_id) {
  // FNV-1a over the step id, mixed with the pipeline seed by splitmix64.
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : step_id) h = (h ^ c) * 1099511628211ULL;
  std::uint64_t z = h ^ (pipeline_seed + 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return (z ^ (z >> 31)) >> 1;  // 63 bits: fits torch's int64 seeds
}

namespace {

/// Zeros of a declared shape: what a dropped tensor reads as.
class ZeroSource final : public TensorSource {
 public:
  ZeroSource(std::vector<std::int64_t> shape, torch::ScalarType dtype) : shape_(std::move(shape)), dtype_(dtype) {}
  std::vector<std::int64_t> shape() const override { return shape_; }
  torch::ScalarType dtype() const override { return dtype_; }
  std::string location() const override { return "(rows of another rank, not kept)"; }
  torch::Tensor read_rows(std::int64_t begin, std::int64_t end) const override {
    auto shape = shape_;
    if (!shape.empty()) shape[0] = end - begin;
    return torch::zeros(shape, torch::TensorOptions().dtype(dtype_));
  }

 private:
  std::vector<std::int64_t> shape_;
  torch::ScalarType dtype_;
};

/// create_rows on a rank other than 0: nothing is written.
class DroppedRows final : public RowWriter {
 public:
  DroppedRows(std::vector<std::int64_t> shape, torch::ScalarType dtype) : shape_(std::move(shape)), dtype_(dtype) {}
  void append(const torch::Tensor& rows) override { written_ += rows.dim() > 0 ? rows.size(0) : 0; }
  std::shared_ptr<const TensorSource> finish() override { return std::make_shared<ZeroSource>(shape_, dtype_); }
  std::shared_ptr<const TensorSource> finish_early() override {
    auto shape = shape_;
    if (!shape.empty()) shape[0] = written_;
    return std::make_shared<ZeroSource>(shape, dtype_);
  }

 private:
  std::vector<std::int64_t> shape_;
  torch::ScalarType dtype_;
  std::int64_t written_ = 0;
};

/// The Context a running step sees.
class RunContext final : public Context {
 public:
  /// `writer` null: a rank other than 0, whose outputs are dropped.
  RunContext(const StepRun& run, RunLog& log, ArtifactFileWriter* writer)
      : step_(run.step),
        seed_(run.seed),
        device_(run.device),
        threads_(run.threads),
        run_dir_(run.run_dir),
        group_(run.group != nullptr ? *run.group : single_process()),
        log_(log),
        writer_(writer) {}

  const std::string& step_id() const override { return step_.id; }
  std::uint64_t seed() const override { return seed_; }
  torch::Device device() const override { return device_; }
  int threads() const override { return threads_; }
  const fs::path& run_dir() const override { return run_dir_; }
  Group& group() override { return group_; }
  void log(LogLevel level, const std::string& message) override { log_.write(level, step_.id, message); }
  void metric(const std::string& name, double value) override { metrics_[name] = value; }
  std::unique_ptr<ProgressBar> progress(const std::string& label, std::int64_t total,
                                        const std::string& unit) override {
    return std::make_unique<TerminalProgress>(log_, step_.id, label, total, unit);
  }
  bool cancelled() const override { return cancel_flag().load(); }
  void save_file(const std::string& name, const std::string& bytes) override {
    if (name.empty() || name.find('/') != std::string::npos || name[0] == '.') {
      throw Error(fmt::format("step '{}': file name '{}' must be a plain name", step_.id, name));
    }
    if (name == kScalarsFile) {
      throw Error(fmt::format("step '{}': the file name {} is kept for Context::scalar", step_.id, name));
    }
    keep_file(name, bytes);
  }
  /// The saved files, with the curves as scalars.csv when any were reported.
  const Artifact& files() {
    if (!scalars_.empty()) keep_file(kScalarsFile, scalars_.to_csv());
    return files_;
  }
  void scalar(const std::string& name, std::int64_t step, double value) override {
    if (name.empty()) throw Error(fmt::format("step '{}': a scalar needs a name (\"train/loss\")", step_.id));
    scalars_.add(name, step, value);
  }

  std::unique_ptr<RowWriter> create_rows(const std::string& output, const std::string& tensor,
                                         std::vector<std::int64_t> shape, torch::ScalarType dtype) override {
    if (writer_ == nullptr) return std::make_unique<DroppedRows>(std::move(shape), dtype);
    return writer_->create_rows(output, tensor, std::move(shape), dtype);
  }
  const std::map<std::string, double>& metrics() const { return metrics_; }

 private:
  const StepConfig& step_;
  std::uint64_t seed_;
  torch::Device device_;
  int threads_;
  fs::path run_dir_;
  Group& group_;
  RunLog& log_;
  ArtifactFileWriter* writer_;
  void keep_file(const std::string& name, const std::string& bytes) {
    files_.set(name, torch::from_blob(const_cast<char*>(bytes.data()), {static_cast<std::int64_t>(bytes.size())},
                                      torch::kUInt8)
                         .clone());
  }

  std::map<std::string, double> metrics_;
  Artifact files_;
  ScalarLog scalars_;
};

/// Checks a step kept its output contract (a plugin bug otherwise).
void check_outputs(const StepConfig& step, const Artifacts& outputs) {
  for (const auto& port : step.step->info.outputs) {
    if (outputs.count(port.name) == 0) {
      throw Error(fmt::format("step '{}' ({}) returned no output '{}' although it declares it; this is a bug in {}",
                              step.id, step.step->info.name, port.name, step.step->library.filename().string()));
    }
  }
  for (const auto& [name, artifact] : outputs) {
    bool declared = false;
    for (const auto& port : step.step->info.outputs) declared = declared || port.name == name;
    if (!declared) {
      throw Error(fmt::format("step '{}' ({}) returned undeclared output '{}'; this is a bug in {}", step.id,
                              step.step->info.name, name, step.step->library.filename().string()));
    }
  }
}

}  // namespace

Artifacts run_step(const StepRun& run, const Artifacts& inputs, const fs::path& file, RunLog& log,
                   std::map<std::string, double>* metrics) {
  const StepConfig& s = run.step;
  ArtifactFileWriter writer(file);
  RunContext ctx(run, log, &writer);
  torch::manual_seed(run.seed);
  auto step = s.step->factory();
  Artifacts outputs = step->run(inputs, s.params, ctx);
  ctx.check_cancelled();
  check_outputs(s, outputs);
  if (const auto& files = ctx.files(); !files.tensor_names().empty()) outputs[kFilesGroup] = files;
  write_entry(writer, outputs, {run.key, s.step->info.name, s.step->info.version, ctx.metrics()});
  outputs.clear();
  if (metrics != nullptr) *metrics = ctx.metrics();
  return read_artifact_file(file);
}

void run_step_on_other_rank(const StepRun& run, const Artifacts& inputs, RunLog& log) {
  RunContext ctx(run, log, nullptr);
  const int rank = run.group != nullptr ? run.group->rank() : 0;
  torch::manual_seed(derive_seed(run.seed, fmt::format("rank {}", rank)));
  auto step = run.step.step->factory();
  Artifacts outputs = step->run(inputs, run.step.params, ctx);
  ctx.check_cancelled();
  check_outputs(run.step, outputs);
}

}  // namespace facet
