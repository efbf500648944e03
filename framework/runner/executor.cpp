#include "executor.hpp"

#include <chrono>
#include <ctime>
#include <thread>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "cache.hpp"
#include "facet/artifact_file.hpp"
#include "facet/files.hpp"
#include "report.hpp"
#include "scalars.hpp"
#include "text_util.hpp"

namespace facet {
namespace fs = std::filesystem;

int intra_op_threads(int requested) {
  return requested > 0 ? requested : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

void write_bytes(const torch::Tensor& bytes, const fs::path& path) {
  const auto contiguous = bytes.contiguous();
  write_file(
      path, std::string_view(static_cast<const char*>(contiguous.data_ptr()), static_cast<size_t>(contiguous.numel())));
}

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

/// The Context a running step sees.
class RunContext final : public Context {
 public:
  RunContext(const StepConfig& step, std::uint64_t seed, torch::Device device, int threads, fs::path run_dir,
             RunLog& log, ArtifactFileWriter& writer)
      : step_(step),
        seed_(seed),
        device_(device),
        threads_(threads),
        run_dir_(std::move(run_dir)),
        log_(log),
        writer_(writer) {}

  const std::string& step_id() const override { return step_.id; }
  std::uint64_t seed() const override { return seed_; }
  torch::Device device() const override { return device_; }
  int threads() const override { return threads_; }
  const fs::path& run_dir() const override { return run_dir_; }
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
    return writer_.create_rows(output, tensor, std::move(shape), dtype);
  }
  const std::map<std::string, double>& metrics() const { return metrics_; }

 private:
  const StepConfig& step_;
  std::uint64_t seed_;
  torch::Device device_;
  int threads_;
  fs::path run_dir_;
  RunLog& log_;
  ArtifactFileWriter& writer_;
  void keep_file(const std::string& name, const std::string& bytes) {
    files_.set(name, torch::from_blob(const_cast<char*>(bytes.data()), {static_cast<std::int64_t>(bytes.size())},
                                      torch::kUInt8)
                         .clone());
  }

  std::map<std::string, double> metrics_;
  Artifact files_;
  ScalarLog scalars_;
};

struct StepRecord {
  std::string status;  // "ran", "cached", "failed", "interrupted"
  std::string key;
  double seconds = 0;
  std::map<std::string, double> metrics;
  std::string error;  ///< why it failed or stopped
};

fs::path make_run_dir(const RunOptions& options, const Pipeline& p) {
  const auto stamp = fmt::format("{:%Y%m%d-%H%M%S}", fmt::localtime(std::time(nullptr)));
  const fs::path base = options.runs_dir / p.name;
  fs::path dir = base / stamp;
  for (int i = 2; fs::exists(dir); ++i) dir = base / fmt::format("{}-{}", stamp, i);
  fs::create_directories(dir);
  return dir;
}

std::string metrics_json(const Pipeline& p, const fs::path& run_dir, const std::vector<std::string>& order,
                         const std::map<std::string, StepRecord>& records, const std::string& outcome) {
  nlohmann::ordered_json out;
  out["pipeline"] = p.name;
  out["run_dir"] = run_dir.string();
  out["outcome"] = outcome;
  out["steps"] = nlohmann::ordered_json::object();
  for (const auto& id : order) {
    auto it = records.find(id);
    if (it == records.end()) continue;
    const auto& r = it->second;
    auto& step = out["steps"][id];
    step["uses"] = p.find(id)->step->info.name;
    step["status"] = r.status;
    step["seconds"] = std::round(r.seconds * 1000) / 1000;
    step["cache_key"] = r.key;
    step["metrics"] = nlohmann::ordered_json::object();
    for (const auto& [name, value] : r.metrics) step["metrics"][name] = value;  // NaN and inf become null
    if (!r.error.empty()) {
      step["error"] = r.error;
      out["stopped_at"] = id;
    }
  }
  return out.dump(2) + "\n";
}

/// The steps to run for --until: the target and everything upstream of it.
std::set<std::string> needed_for(const Pipeline& p, const std::string& until) {
  std::set<std::string> needed;
  std::vector<std::string> todo{until};
  while (!todo.empty()) {
    const auto id = todo.back();
    todo.pop_back();
    if (!needed.insert(id).second) continue;
    for (const auto& in : p.find(id)->inputs) todo.push_back(in.second.step);
  }
  return needed;
}

void check_step_ids(const Pipeline& p, const RunOptions& options) {
  std::vector<std::string> ids;
  for (const auto& s : p.steps) ids.push_back(s.id);
  auto check = [&](const std::string& id, const char* flag) {
    if (p.find(id) == nullptr) {
      throw Error(fmt::format("{} {}: no step '{}' in pipeline {}{} (steps: {})", flag, id, id, p.name,
                              did_you_mean(id, ids), fmt::join(ids, ", ")));
    }
  };
  if (!options.until.empty()) check(options.until, "--until");
  for (const auto& id : options.rerun) check(id, "--rerun");
}

/// Writes the files a step saved (ctx.save_file) to <run folder>/<step id>/.
void export_files(const Artifacts& outputs, const fs::path& dir) {
  auto it = outputs.find(kFilesGroup);
  if (it == outputs.end()) return;
  for (const auto& name : it->second.tensor_names()) write_bytes(it->second.get(name), dir / name);
}

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
  RunContext ctx(s, run.seed, run.device, run.threads, run.run_dir, log, writer);
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

namespace {

/// One run of a validated pipeline: the cache keys first, then each selected
/// step, taken from the cache or computed, in order.
class Execution {
 public:
  Execution(const Pipeline& p, const RunOptions& options, RunLog& log)
      : p_(p), options_(options), log_(log), cache_(options.cache_dir) {
    check_step_ids(p, options);
    if (!options.until.empty()) needed_ = needed_for(p, options.until);
    // A step asked to rerun invalidates everything downstream of it: their
    // cache keys only know the upstream keys, not the new outputs.
    rerun_ = options.rerun;
    for (const auto& s : p.steps) {
      for (const auto& [port, in] : s.inputs) {
        if (rerun_.count(in.step) != 0) rerun_.insert(s.id);
      }
    }
    for (const auto& s : p.steps) compute_key(s);
  }

  /// --dry-run: the plan, and which steps the cache holds.
  int print_plan() const {
    fmt::print("pipeline {} ({} steps, seed {}, device {}, cache {})\n", p_.name, p_.steps.size(), p_.seed, p_.device,
               options_.no_cache ? "off" : options_.cache_dir.string());
    for (const auto& s : p_.steps) {
      std::string status = "run";
      if (!selected(s.id)) {
        status = "skip (after --until)";
      } else if (rerun_.count(s.id) != 0) {
        status = "rerun";
      } else if (!options_.no_cache && cache_.contains(s.step->info.name, keys_.at(s.id))) {
        status = "cached";
      }
      fmt::print("  {:<16} {:<14} {}  {}\n", s.id, s.step->info.name, keys_.at(s.id).substr(0, 12), status);
    }
    return kExitOk;
  }

  int run(RunSummary* summary) {
    threads_ = intra_op_threads(p_.threads);
    torch::set_num_threads(threads_);
    device_ = torch::Device(p_.device);
    try {
      open_run_folder();
    } catch (const std::exception& e) {
      log_.write(LogLevel::Error, "", e.what());
      return kExitStepFailed;
    }
    if (!options_.no_cache) remove_stale_temporaries();
    int code = run_steps();
    results_.clear();
    std::error_code ignored;
    fs::remove_all(run_dir_ / ".scratch", ignored);
    code = finish(code);
    if (summary != nullptr) {
      summary->code = code;
      summary->run_dir = run_dir_;
      for (const auto& [id, record] : records_) summary->metrics[id] = record.metrics;
    }
    return code;
  }

 private:
  bool selected(const std::string& id) const { return needed_.empty() || needed_.count(id) != 0; }

  void compute_key(const StepConfig& s) {
    std::map<std::string, std::string> input_keys;
    for (const auto& [port, in] : s.inputs) input_keys[port] = keys_.at(in.step) + "/" + in.output;
    seeds_[s.id] = derive_seed(p_.seed, s.id);
    keys_[s.id] = cache_key(s, seeds_[s.id], input_keys);
  }

  void open_run_folder() {
    run_dir_ = options_.run_dir.empty() ? make_run_dir(options_, p_) : options_.run_dir;
    fs::create_directories(run_dir_);
    log_.open_file(run_dir_ / "run.log");
    write_file(run_dir_ / "pipeline.yaml", resolved_yaml(p_));
    log_.write(LogLevel::Info, "",
               fmt::format("run folder {} ({} threads, device {})", run_dir_.string(), threads_, p_.device));
  }

  void remove_stale_temporaries() {
    for (const auto& stale : cache_.remove_stale_temporaries()) {
      log_.write(LogLevel::Info, "",
                 fmt::format("removed {}, left by runner {} which no longer runs", stale.path.string(), stale.pid));
    }
  }

  /// Each selected step in order; stops at the first failure. Returns the exit code.
  int run_steps() {
    for (const auto& s : p_.steps) {
      if (!selected(s.id)) continue;
      order_.push_back(s.id);
      StepRecord& record = records_[s.id];
      try {
        take_or_compute(s, record);
        export_files(results_.at(s.id), run_dir_ / s.id);
      } catch (const Cancelled&) {
        record.status = "interrupted";
        record.error = "interrupted (Ctrl-C or SIGTERM); the next run starts again at this step";
        log_.write(LogLevel::Error, s.id,
                   "interrupted; its partial outputs were discarded, the cache holds only complete steps");
        outcome_ = "interrupted";
        return kExitInterrupted;
      } catch (const std::exception& e) {
        report_failure(s, record, e);
        return kExitStepFailed;
      } catch (...) {
        record.status = "failed";
        record.error = fmt::format("it threw something that is not a std::exception; this is a bug in {}",
                                   s.step->library.filename().string());
        log_.write(LogLevel::Error, s.id,
                   fmt::format("step '{}' ({}) failed: {}", s.id, s.step->info.name, record.error));
        outcome_ = "failed";
        return kExitStepFailed;
      }
    }
    return kExitOk;
  }

  void report_failure(const StepConfig& s, StepRecord& record, const std::exception& e) {
    record.status = "failed";
    // LibTorch errors carry a backtrace: the message for the user is its first part.
    const auto* torch_error = dynamic_cast<const c10::Error*>(&e);
    record.error = torch_error != nullptr ? torch_error->what_without_backtrace() : e.what();
    log_.write(LogLevel::Error, s.id, fmt::format("step '{}' ({}) failed: {}", s.id, s.step->info.name, record.error));
    if (torch_error != nullptr) log_.write(LogLevel::Debug, s.id, torch_error->what());
    if (const auto* fe = dynamic_cast<const Error*>(&e); fe != nullptr && !fe->detail().empty()) {
      log_.write(LogLevel::Debug, s.id, fe->detail());
    }
    outcome_ = "failed";
  }

  /// The step's outputs into results_: from the cache, or computed under the
  /// entry's lock (a second runner on the same cache waits, then reads them).
  void take_or_compute(const StepConfig& s, StepRecord& record) {
    compute_key(s);  // again: an upstream step may have written the files a path parameter names
    record.key = keys_.at(s.id);
    if (options_.no_cache) {
      compute_repairing(s, record, run_dir_ / ".scratch" / fmt::format("{}.h5", s.id));
      return;
    }
    const bool may_reuse = rerun_.count(s.id) == 0;
    if (may_reuse && take_cached(s, record)) return;
    const EntryLock lock = cache_.lock(
        s.step->info.name, record.key,
        [&](const std::string& holder) {
          log_.write(LogLevel::Info, s.id, fmt::format("waiting for {}, which is computing this step", holder));
        },
        [] { return cancel_flag().load(); });
    if (may_reuse && take_cached(s, record)) return;
    compute_repairing(s, record, cache_.path_for(s.step->info.name, record.key));
    rerun_.erase(s.id);  // fresh now: a repair later in this run may reuse it
  }

  bool take_cached(const StepConfig& s, StepRecord& record) {
    std::string problem;
    auto hit = cache_.lookup(s, record.key, &problem);
    if (!problem.empty()) log_.write(LogLevel::Warning, s.id, problem);
    if (!hit) return false;
    results_[s.id] = std::move(hit->outputs);
    record.status = "cached";
    record.metrics = std::move(hit->metrics);
    log_.write(LogLevel::Info, s.id,
               fmt::format("cached ({})", cache_.path_for(s.step->info.name, record.key).string()));
    return true;
  }

  /// Computes the step into `file`. When it fails reading a damaged cache
  /// entry of an earlier step, that entry is moved aside and recomputed, and
  /// the step tried again.
  void compute_repairing(const StepConfig& s, StepRecord& record, const fs::path& file) {
    for (size_t repairs = 0;; ++repairs) {
      try {
        compute(s, record, file);
        return;
      } catch (const DamagedFile& e) {
        const StepConfig* owner = owner_of(e.file());
        if (owner == nullptr || owner == &s || repairs >= p_.steps.size()) throw;
        results_.erase(owner->id);
        log_.write(LogLevel::Warning, owner->id, cache_.set_aside(e.file(), e.what()));
        const EntryLock lock = cache_.lock(
            owner->step->info.name, keys_.at(owner->id), [](const std::string&) {},
            [] { return cancel_flag().load(); });
        compute_repairing(*owner, records_[owner->id], e.file());
      }
    }
  }

  void compute(const StepConfig& s, StepRecord& record, const fs::path& file) {
    const auto started = std::chrono::steady_clock::now();
    Artifacts inputs;
    for (const auto& [port, in] : s.inputs) inputs[port] = results_.at(in.step).at(in.output);
    log_.write(LogLevel::Info, s.id, fmt::format("running {} {}", s.step->info.name, s.step->info.version));
    const StepRun run{s, seeds_.at(s.id), keys_.at(s.id), device_, threads_, run_dir_};
    results_[s.id] = run_step(run, inputs, file, log_, &record.metrics);
    record.status = "ran";
    record.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    log_.write(LogLevel::Info, s.id, fmt::format("done in {:.2f} s", record.seconds));
  }

  /// The step of this run whose cache entry is `file`, or nullptr.
  const StepConfig* owner_of(const fs::path& file) const {
    if (options_.no_cache) return nullptr;
    for (const auto& s : p_.steps) {
      if (results_.count(s.id) == 0) continue;
      if (cache_.path_for(s.step->info.name, keys_.at(s.id)).lexically_normal() == file.lexically_normal()) return &s;
    }
    return nullptr;
  }

  /// metrics.json and the closing line; a run folder that cannot be written
  /// fails the run.
  int finish(int code) {
    try {
      write_file(run_dir_ / "metrics.json", metrics_json(p_, run_dir_, order_, records_, outcome_));
      write_run_report(run_dir_);
      log_.check_file();
    } catch (const std::exception& e) {
      log_.write(LogLevel::Error, "", e.what());
      return code == kExitOk ? kExitStepFailed : code;
    }
    if (code == kExitOk) {
      log_.write(LogLevel::Info, "", fmt::format("finished; results in {} (report.html)", run_dir_.string()));
    }
    return code;
  }

  const Pipeline& p_;
  const RunOptions& options_;
  RunLog& log_;
  Cache cache_;
  std::set<std::string> needed_;  ///< with --until: the steps to run; else empty
  std::set<std::string> rerun_;
  std::map<std::string, std::string> keys_;
  std::map<std::string, std::uint64_t> seeds_;
  int threads_ = 1;
  torch::Device device_ = torch::kCPU;
  fs::path run_dir_;
  std::map<std::string, Artifacts> results_;
  std::map<std::string, StepRecord> records_;
  std::vector<std::string> order_;
  std::string outcome_ = "ok";
};

}  // namespace

int execute(const Pipeline& p, const RunOptions& options, RunLog& log, RunSummary* summary) {
  Execution execution(p, options, log);
  return options.dry_run ? execution.print_plan() : execution.run(summary);
}

}  // namespace facet
