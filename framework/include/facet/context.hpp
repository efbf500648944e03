#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <torch/types.h>

#include "facet/artifact.hpp"
#include "facet/export.hpp"
#include "facet/group.hpp"

namespace facet {

enum class LogLevel { Debug, Info, Warning, Error };

/// A progress bar for one long loop: rate and ETA on a terminal, plain
/// periodic lines otherwise. advance() also checks for Ctrl-C and throws
/// facet::Cancelled, so a loop that reports progress is interruptible.
class FACET_API ProgressBar {
 public:
  virtual ~ProgressBar() = default;
  virtual void advance(std::int64_t n = 1) = 0;
  /// A short status shown after the counters ("loss 0.231").
  virtual void note(std::string text) = 0;
};

/// Writes a tensor too large for memory, rows appended in order, straight
/// into the step's pending cache entry.
class FACET_API RowWriter {
 public:
  virtual ~RowWriter() = default;
  /// Appends rows: `rows` has the declared shape except for the first dimension.
  virtual void append(const torch::Tensor& rows) = 0;
  /// Closes the tensor (all declared rows must have been written) and returns
  /// it, to be put into an output artifact with Artifact::set.
  virtual std::shared_ptr<const TensorSource> finish() = 0;
  /// Closes the tensor after the rows appended so far, when fewer than
  /// declared turned out usable (a loader skipping corrupt images): the first
  /// dimension shrinks to the rows written.
  virtual std::shared_ptr<const TensorSource> finish_early() = 0;
};

/// What a running step gets from the runner besides inputs and parameters.
class FACET_API Context {
 public:
  virtual ~Context() = default;

  /// The step's id in the pipeline ("faces").
  virtual const std::string& step_id() const = 0;
  /// Seed derived from the pipeline seed and the step id: same pipeline, same numbers.
  virtual std::uint64_t seed() const = 0;
  virtual torch::Device device() const = 0;
  /// Intra-op threads the runner configured; steps with their own workers use this many.
  virtual int threads() const = 0;
  /// This run's folder (figures, images, tables go here).
  virtual const std::filesystem::path& run_dir() const = 0;
  /// The ranks running this step: several for a Sharded or DataParallel step
  /// of a run started on several processes, else a group of one. Only rank
  /// 0's outputs, files and metrics are kept; on the other ranks create_rows
  /// writes nothing and its tensors read as zeros.
  virtual Group& group() = 0;

  virtual void log(LogLevel level, const std::string& message) = 0;
  template <typename... A>
  void info(fmt::format_string<A...> f, A&&... args) {
    log(LogLevel::Info, fmt::format(f, std::forward<A>(args)...));
  }
  template <typename... A>
  void warn(fmt::format_string<A...> f, A&&... args) {
    log(LogLevel::Warning, fmt::format(f, std::forward<A>(args)...));
  }
  template <typename... A>
  void debug(fmt::format_string<A...> f, A&&... args) {
    log(LogLevel::Debug, fmt::format(f, std::forward<A>(args)...));
  }

  /// A named number for metrics.json (kept with the cache entry, so cached
  /// steps report it too).
  virtual void metric(const std::string& name, double value) = 0;

  /// One point of a training curve: `name` at `step` (an epoch, or an
  /// iteration). Names say what and on which data: "train/loss",
  /// "val/accuracy"; the run's report.html draws the series that end alike
  /// ("/loss") in one chart. Kept with the cache entry, and written to
  /// <run folder>/<step id>/scalars.csv on every run, cached or not.
  virtual void scalar(const std::string& name, std::int64_t step, double value) = 0;

  virtual std::unique_ptr<ProgressBar> progress(const std::string& label, std::int64_t total,
                                                const std::string& unit) = 0;

  /// A file for the run folder (a table, a figure): kept with the step's
  /// cache entry and written to <run folder>/<step id>/<name> on every run,
  /// cached or not.
  virtual void save_file(const std::string& name, const std::string& bytes) = 0;

  /// True once Ctrl-C was pressed.
  virtual bool cancelled() const = 0;
  /// Throws facet::Cancelled once Ctrl-C was pressed.
  void check_cancelled() const;

  /// Starts a stored tensor `tensor` of output `output`, of `shape` (first
  /// dimension: total rows) and `dtype`, written in row slices.
  virtual std::unique_ptr<RowWriter> create_rows(const std::string& output, const std::string& tensor,
                                                 std::vector<std::int64_t> shape, torch::ScalarType dtype) = 0;
};

}  // namespace facet
