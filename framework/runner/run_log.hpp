#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "facet/context.hpp"

namespace facet {

/// The runner's log: messages to stderr and, once a run folder exists, to
/// its run.log with timestamps.
class RunLog {
 public:
  explicit RunLog(bool verbose = false) : verbose_(verbose) {}
  void open_file(const std::filesystem::path& file);
  void write(LogLevel level, const std::string& scope, const std::string& message);
  /// This process is rank `rank` of several: lines say so, and a rank other
  /// than 0 keeps to warnings and errors (everything with --verbose).
  void set_rank(int rank) { rank_ = rank; }
  /// A line for the file only (progress lines drawn on a terminal).
  void file_only(const std::string& line);
  /// Throws facet::Error when run.log could not be written in full (a full
  /// disk); a log left empty is removed.
  void check_file();
  /// Whether stderr is a terminal (progress bars redraw in place).
  bool tty() const { return tty_; }

 private:
  bool verbose_;
  int rank_ = -1;  ///< -1: the only process
  bool tty_ = false;
  bool tty_checked_ = false;
  void append(const std::string& line);
  std::filesystem::path file_path_;
  std::ofstream file_;
  bool file_failed_ = false;
  friend class TerminalProgress;
};

/// Set by the SIGINT handler; checked by Context::cancelled().
std::atomic<bool>& cancel_flag();
/// Installs the SIGINT/SIGTERM handler: the first signal asks the running
/// step to stop, a second one ends the process at once.
void install_interrupt_handler();

/// Progress with rate and ETA: redrawn in place on a terminal, a plain line
/// every few seconds otherwise.
class TerminalProgress final : public ProgressBar {
 public:
  TerminalProgress(RunLog& log, std::string scope, std::string label, std::int64_t total, std::string unit);
  ~TerminalProgress() override;
  void advance(std::int64_t n) override;
  void note(std::string text) override;

 private:
  std::string line() const;
  void draw(bool final);

  using Clock = std::chrono::steady_clock;
  RunLog& log_;
  std::string scope_, label_, unit_, note_;
  std::int64_t total_, done_ = 0;
  Clock::time_point start_ = Clock::now(), last_draw_ = start_;
};

}  // namespace facet
