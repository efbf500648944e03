#include "executor.hpp"

#include <chrono>
#include <ctime>
#include <fstream>
#include <thread>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include "cache.hpp"
#include "facet/artifact_file.hpp"
#include "text_util.hpp"

namespace facet {
namespace fs = std::filesystem;

int intra_op_threads(int requested) {
  return requested > 0 ? requested : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

void write_bytes(const torch::Tensor& bytes, const fs::path& path) {
  std::ofstream(path, std::ios::binary)
      .write(static_cast<const char*>(bytes.data_ptr()), static_cast<std::streamsize>(bytes.numel()));
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
    files_.set(name, torch::from_blob(const_cast<char*>(bytes.data()), {static_cast<std::int64_t>(bytes.size())},
                                      torch::kUInt8)
                         .clone());
  }
  const Artifact& files() const { return files_; }
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
  std::map<std::string, double> metrics_;
  Artifact files_;
};

struct StepRecord {
  std::string status;  // "ran", "cached", "skipped"
  std::string key;
  double seconds = 0;
  std::map<std::string, double> metrics;
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
  std::string out = fmt::format("{{\n  \"pipeline\": {},\n  \"run_dir\": {},\n  \"outcome\": {},\n  \"steps\": {{",
                                json_quote(p.name), json_quote(run_dir.string()), json_quote(outcome));
  bool first = true;
  for (const auto& id : order) {
    auto it = records.find(id);
    if (it == records.end()) continue;
    const auto& r = it->second;
    out += fmt::format(
        "{}\n    {}: {{\"uses\": {}, \"status\": {}, \"seconds\": {:.3f}, \"cache_key\": {}, \"metrics\": {{",
        first ? "" : ",", json_quote(id), json_quote(p.find(id)->step->info.name), json_quote(r.status), r.seconds,
        json_quote(r.key));
    bool first_metric = true;
    for (const auto& [name, value] : r.metrics) {
      out += fmt::format("{}{}: {}", first_metric ? "" : ", ", json_quote(name),
                         std::isfinite(value) ? fmt::format("{}", value) : std::string("null"));
      first_metric = false;
    }
    out += "}}";
    first = false;
  }
  return out + "\n  }\n}\n";
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
  fs::create_directories(dir);
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
  for (const auto& [name, artifact] : outputs) writer.write(name, artifact);
  outputs.clear();
  if (!ctx.files().tensor_names().empty()) writer.write(kFilesGroup, ctx.files());
  writer.set_file_attr("facet_format", std::string(kCacheFormat));
  writer.set_file_attr("facet_format_version", kCacheFormatVersion);
  writer.set_file_attr("key", run.key);
  writer.set_file_attr("step", s.step->info.name);
  writer.set_file_attr("step_version", s.step->info.version);
  for (const auto& [name, value] : ctx.metrics()) writer.set_file_attr(kMetricPrefix + name, value);
  writer.commit();
  if (metrics != nullptr) *metrics = ctx.metrics();
  return read_artifact_file(file);
}

int execute(const Pipeline& p, const RunOptions& options, RunLog& log, RunSummary* summary) {
  check_step_ids(p, options);
  const std::set<std::string> needed = options.until.empty() ? std::set<std::string>() : needed_for(p, options.until);
  auto selected = [&](const std::string& id) { return options.until.empty() || needed.count(id) != 0; };
  // A step asked to rerun invalidates everything downstream of it: their
  // cache keys only know the upstream keys, not the new outputs.
  std::set<std::string> rerun = options.rerun;
  for (const auto& s : p.steps) {
    for (const auto& [port, in] : s.inputs) {
      if (rerun.count(in.step) != 0) rerun.insert(s.id);
    }
  }

  // Keys first: each depends on its inputs' keys.
  std::map<std::string, std::string> keys;
  std::map<std::string, std::uint64_t> seeds;
  auto compute_key = [&](const StepConfig& s) {
    std::map<std::string, std::string> input_keys;
    for (const auto& [port, in] : s.inputs) input_keys[port] = keys.at(in.step) + "/" + in.output;
    seeds[s.id] = derive_seed(p.seed, s.id);
    keys[s.id] = cache_key(s, seeds[s.id], input_keys);
  };
  for (const auto& s : p.steps) compute_key(s);
  Cache cache(options.cache_dir);

  if (options.dry_run) {
    fmt::print("pipeline {} ({} steps, seed {}, device {}, cache {})\n", p.name, p.steps.size(), p.seed, p.device,
               options.no_cache ? "off" : options.cache_dir.string());
    for (const auto& s : p.steps) {
      std::string status = "run";
      if (!selected(s.id)) status = "skip (after --until)";
      else if (rerun.count(s.id) != 0) status = "rerun";
      else if (!options.no_cache && cache.contains(s.step->info.name, keys[s.id])) status = "cached";
      fmt::print("  {:<16} {:<14} {}  {}\n", s.id, s.step->info.name, keys[s.id].substr(0, 12), status);
    }
    return kExitOk;
  }

  const int threads = intra_op_threads(p.threads);
  torch::set_num_threads(threads);
  const torch::Device device(p.device);

  const fs::path run_dir = options.run_dir.empty() ? make_run_dir(options, p) : options.run_dir;
  fs::create_directories(run_dir);
  log.open_file(run_dir / "run.log");
  { std::ofstream(run_dir / "pipeline.yaml") << resolved_yaml(p); }
  log.write(LogLevel::Info, "",
            fmt::format("run folder {} ({} threads, device {})", run_dir.string(), threads, p.device));

  const fs::path scratch = run_dir / ".scratch";  // --no-cache outputs, removed at the end
  std::map<std::string, Artifacts> results;
  std::map<std::string, StepRecord> records;
  std::vector<std::string> order;
  std::string outcome = "ok";
  int code = kExitOk;

  for (const auto& s : p.steps) {
    if (!selected(s.id)) continue;
    order.push_back(s.id);
    compute_key(s);  // again: an upstream step may have written the files a path parameter names
    StepRecord& record = records[s.id];
    record.key = keys[s.id];
    const auto started = std::chrono::steady_clock::now();
    try {
      if (!options.no_cache && rerun.count(s.id) == 0) {
        std::string problem;
        if (auto hit = cache.lookup(s, keys[s.id], &problem)) {
          results[s.id] = std::move(hit->outputs);
          record.status = "cached";
          record.metrics = std::move(hit->metrics);
          log.write(LogLevel::Info, s.id,
                    fmt::format("cached ({})", cache.path_for(s.step->info.name, keys[s.id]).string()));
          export_files(results[s.id], run_dir / s.id);
          continue;
        }
        if (!problem.empty()) log.write(LogLevel::Warning, s.id, problem);
      }
      Artifacts inputs;
      for (const auto& [port, in] : s.inputs) inputs[port] = results.at(in.step).at(in.output);
      const fs::path final_path =
          options.no_cache ? scratch / fmt::format("{}.h5", s.id) : cache.path_for(s.step->info.name, keys[s.id]);
      log.write(LogLevel::Info, s.id, fmt::format("running {} {}", s.step->info.name, s.step->info.version));
      StepRun run{s, seeds[s.id], keys[s.id], device, threads, run_dir};
      results[s.id] = run_step(run, inputs, final_path, log, &record.metrics);
      export_files(results[s.id], run_dir / s.id);
      record.status = "ran";
      record.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      log.write(LogLevel::Info, s.id, fmt::format("done in {:.2f} s", record.seconds));
    } catch (const Cancelled&) {
      record.status = "interrupted";
      log.write(LogLevel::Error, s.id,
                "interrupted; its partial outputs were discarded, the cache holds only complete steps");
      outcome = "interrupted";
      code = kExitInterrupted;
      break;
    } catch (const std::exception& e) {
      record.status = "failed";
      // LibTorch errors carry a backtrace: the message for the user is its first part.
      const auto* torch_error = dynamic_cast<const c10::Error*>(&e);
      const std::string message = torch_error != nullptr ? torch_error->what_without_backtrace() : e.what();
      log.write(LogLevel::Error, s.id, fmt::format("step '{}' ({}) failed: {}", s.id, s.step->info.name, message));
      if (torch_error != nullptr) log.write(LogLevel::Debug, s.id, torch_error->what());
      if (const auto* fe = dynamic_cast<const Error*>(&e); fe != nullptr && !fe->detail().empty()) {
        log.write(LogLevel::Debug, s.id, fe->detail());
      }
      outcome = "failed";
      code = kExitStepFailed;
      break;
    }
  }
  results.clear();
  std::error_code ignored;
  fs::remove_all(scratch, ignored);
  { std::ofstream(run_dir / "metrics.json") << metrics_json(p, run_dir, order, records, outcome); }
  if (code == kExitOk) log.write(LogLevel::Info, "", fmt::format("finished; results in {}", run_dir.string()));
  if (summary != nullptr) {
    summary->code = code;
    summary->run_dir = run_dir;
    for (const auto& [id, record] : records) summary->metrics[id] = record.metrics;
  }
  return code;
}

}  // namespace facet
