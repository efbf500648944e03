#include "executor.hpp"

#include <unistd.h>

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

int intra_op_threads(int requested, int local_ranks) {
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int fair_share = std::max(1, cores / std::max(1, local_ranks));
  if (requested <= 0) return fair_share;
  // Ranks on one machine share its cores: more threads than cores makes
  // OpenMP's spinning threads wait for each other (many times slower).
  return local_ranks > 1 ? std::min(requested, fair_share) : requested;
}

void write_bytes(const torch::Tensor& bytes, const fs::path& path) {
  const auto contiguous = bytes.contiguous();
  write_file(
      path, std::string_view(static_cast<const char*>(contiguous.data_ptr()), static_cast<size_t>(contiguous.numel())));
}

namespace {

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

}  // namespace

namespace {

/// One run of a validated pipeline: the cache keys first, then each selected
/// step, taken from the cache or computed, in order.
class Execution {
 public:
  Execution(const Pipeline& p, const RunOptions& options, RunLog& log)
      : p_(p), options_(options), log_(log), cache_(options.cache_dir), world_(options.world) {
    check_step_ids(p, options);
    if (world_ != nullptr && options.no_cache) {
      throw Error("--no-cache runs in one process only: the other ranks take rank 0's outputs from the cache");
    }
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
    fmt::print("pipeline {} ({} steps, seed {}, device {}, {}, cache {})\n", p_.name, p_.steps.size(), p_.seed,
               p_.device, precision_summary(p_), options_.no_cache ? "off" : options_.cache_dir.string());
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
    threads_ = intra_op_threads(p_.threads, world_ != nullptr ? options_.local_ranks : 1);
    torch::set_num_threads(threads_);
    device_ = torch::Device(p_.device);
    if (world_ != nullptr && device_.is_cuda()) device_ = torch::Device(torch::kCUDA, options_.local_rank);
    try {
      open_run_folder();
    } catch (const std::exception& e) {
      log_.write(LogLevel::Error, "", e.what());
      return kExitStepFailed;
    }
    if (leader() && !options_.no_cache) remove_stale_temporaries();
    int code = run_steps();
    results_.clear();
    std::error_code ignored;
    fs::remove_all(run_dir_ / ".scratch", ignored);
    if (leader()) {
      code = finish(code);
    } else {
      fs::remove_all(run_dir_, ignored);  // a follower's scratch folder
    }
    if (world_ != nullptr) world_->finish();
    if (summary != nullptr) {
      summary->code = code;
      summary->run_dir = run_dir_;
      for (const auto& [id, record] : records_) summary->metrics[id] = record.metrics;
    }
    return code;
  }

 private:
  bool selected(const std::string& id) const { return needed_.empty() || needed_.count(id) != 0; }
  /// Rank 0, or the only process: it writes the cache and the run folder.
  bool leader() const { return world_ == nullptr || world_->rank() == 0; }
  bool parallel(const StepConfig& s) const {
    return world_ != nullptr && s.step->info.parallelism != Parallelism::Once;
  }

  void compute_key(const StepConfig& s) {
    std::map<std::string, std::string> input_keys;
    for (const auto& [port, in] : s.inputs) input_keys[port] = keys_.at(in.step) + "/" + in.output;
    seeds_[s.id] = derive_seed(p_.seed, s.id);
    // Data-parallel training depends a little on how many ranks share a batch; sharded work does not.
    const int ranks = world_ != nullptr && s.step->info.parallelism == Parallelism::DataParallel ? world_->size() : 1;
    keys_[s.id] = cache_key(s, seeds_[s.id], input_keys, ranks);
  }

  void open_run_folder() {
    if (!leader()) {  // a follower writes no run folder: a scratch folder of its own
      run_dir_ = fs::temp_directory_path() / fmt::format("facet-rank{}-{}", world_->rank(), ::getpid());
      fs::create_directories(run_dir_);
      return;
    }
    run_dir_ = options_.run_dir.empty() ? make_run_dir(options_, p_) : options_.run_dir;
    fs::create_directories(run_dir_);
    log_.open_file(run_dir_ / "run.log");
    write_file(run_dir_ / "pipeline.yaml", resolved_yaml(p_));
    log_.write(LogLevel::Info, "",
               fmt::format("run folder {} ({} thread{}, device {}, {})", run_dir_.string(), threads_,
                           threads_ == 1 ? "" : "s", p_.device, precision_summary(p_)));
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
        if (leader()) export_files(results_.at(s.id), run_dir_ / s.id);
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
    if (world_ != nullptr && leader() && parallel(s)) record.error = other_rank_failure(s).value_or(record.error);
    log_.write(LogLevel::Error, s.id, fmt::format("step '{}' ({}) failed: {}", s.id, s.step->info.name, record.error));
    if (torch_error != nullptr) log_.write(LogLevel::Debug, s.id, torch_error->what());
    if (const auto* fe = dynamic_cast<const Error*>(&e); fe != nullptr && !fe->detail().empty()) {
      log_.write(LogLevel::Debug, s.id, fe->detail());
    }
    outcome_ = "failed";
  }

  /// Another rank's failure reaches rank 0 as a broken collective operation:
  /// the rank that reported an error, or the ranks lost without one.
  std::optional<std::string> other_rank_failure(const StepConfig& s) {
    try {
      const auto lost = world_->lost_ranks();  // meanwhile, a rank that failed says why
      for (int r = 1; r < world_->size(); ++r) {
        if (const auto why = world_->peek(fmt::format("failed/{}/{}", s.id, r)); !why.empty()) {
          return fmt::format("rank {} failed: {}", r, why);
        }
      }
      if (!lost.empty()) {
        return fmt::format("rank{} {} lost: killed, or its machine or network is gone (no heartbeat for 2 s)",
                           lost.size() > 1 ? "s" : "", fmt::join(lost, ", "));
      }
    } catch (const std::exception&) {
    }
    return std::nullopt;
  }

  /// The step's outputs into results_: from the cache, or computed under the
  /// entry's lock (a second runner on the same cache waits, then reads them).
  void take_or_compute(const StepConfig& s, StepRecord& record) {
    compute_key(s);  // again: an upstream step may have written the files a path parameter names
    record.key = keys_.at(s.id);
    if (world_ != nullptr) {
      leader() ? lead(s, record) : follow(s, record);
      return;
    }
    if (options_.no_cache) {
      compute_repairing(s, record, run_dir_ / ".scratch" / fmt::format("{}.h5", s.id));
      return;
    }
    const bool may_reuse = rerun_.count(s.id) == 0;
    if (may_reuse && take_cached(s, record)) return;
    const EntryLock lock = cache_.lock(
        s.step->info.name, record.key, [&](const std::string& holder) { waiting_for(s, holder); },
        [] { return cancel_flag().load(); });
    if (may_reuse && take_cached(s, record)) return;
    compute_repairing(s, record, cache_.path_for(s.step->info.name, record.key));
    rerun_.erase(s.id);  // fresh now: a repair later in this run may reuse it
  }

  /// Rank 0 of several: decides whether the step runs, tells the other
  /// ranks (plan/<id>), runs it (alone, or with them for a parallel step)
  /// and says when its entry is in the cache (done/<id>).
  void lead(const StepConfig& s, StepRecord& record) {
    const bool may_reuse = rerun_.count(s.id) == 0;
    bool cached = may_reuse && take_cached(s, record);
    EntryLock lock;
    if (!cached) {
      lock = cache_.lock(
          s.step->info.name, record.key, [&](const std::string& holder) { waiting_for(s, holder); },
          [] { return cancel_flag().load(); });
      cached = may_reuse && take_cached(s, record);
    }
    world_->publish("plan/" + s.id, cached ? "cached" : "compute");
    if (cached) return;
    try {
      compute_repairing(s, record, cache_.path_for(s.step->info.name, record.key));
    } catch (const std::exception& e) {
      world_->publish("done/" + s.id, std::string("failed: ") + e.what());
      throw;
    }
    rerun_.erase(s.id);
    world_->publish("done/" + s.id, "ok");
  }

  /// Another rank: follows rank 0's plan, takes part in a parallel step, and
  /// reads the outputs rank 0 wrote.
  void follow(const StepConfig& s, StepRecord& record) {
    const auto cancelled = [] { return cancel_flag().load(); };
    const auto plan = world_->await("plan/" + s.id, cancelled);
    if (plan == "compute") {
      if (parallel(s)) {
        try {
          Artifacts inputs;
          for (const auto& [port, in] : s.inputs) inputs[port] = results_.at(in.step).at(in.output);
          StepRun run{s, seeds_.at(s.id), keys_.at(s.id), device_, threads_, run_dir_, &world_->group()};
          run_step_on_other_rank(run, inputs, log_);
        } catch (const std::exception& e) {
          world_->publish(fmt::format("failed/{}/{}", s.id, world_->rank()), e.what());
          throw;
        }
      }
      const auto done = world_->await("done/" + s.id, cancelled);
      if (done != "ok") throw Error(fmt::format("rank 0 failed at this step: {}", done.substr(done.find(' ') + 1)));
    }
    std::string problem;
    auto hit = cache_.read(s, record.key, &problem);
    if (!hit) {
      throw Error(
          fmt::format("rank {} cannot read rank 0's cache entry {} ({}): is --cache-dir a folder every rank "
                      "shares?",
                      world_->rank(), cache_.path_for(s.step->info.name, record.key).string(),
                      problem.empty() ? "missing" : problem));
    }
    results_[s.id] = std::move(hit->outputs);
    record.status = "cached";
  }

  void waiting_for(const StepConfig& s, const std::string& holder) {
    log_.write(LogLevel::Info, s.id, fmt::format("waiting for {}, which is computing this step", holder));
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
        if (world_ != nullptr) {  // the other ranks hold it open and would need to recompute it together
          throw Error(
              fmt::format("step '{}' read a damaged cache entry of step '{}', now moved aside: run again to "
                          "recompute it",
                          s.id, owner->id));
        }
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
    const StepRun run{
        s, seeds_.at(s.id), keys_.at(s.id), device_, threads_, run_dir_, parallel(s) ? &world_->group() : nullptr};
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
  World* world_;                  ///< null: one process
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
