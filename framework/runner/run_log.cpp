#include "run_log.hpp"

#include <unistd.h>

#include <csignal>
#include <ctime>
#include <iostream>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "facet/errors.hpp"

namespace facet {
namespace fs = std::filesystem;

namespace {
std::string timestamp() {
  const std::time_t now = std::time(nullptr);
  return fmt::format("{:%Y-%m-%d %H:%M:%S}", fmt::localtime(now));
}
const char* level_name(LogLevel level) {
  switch (level) {
    case LogLevel::Debug:
      return "debug";
    case LogLevel::Info:
      return "info";
    case LogLevel::Warning:
      return "warning";
    case LogLevel::Error:
      return "error";
  }
  return "";
}
}  // namespace

void RunLog::open_file(const std::filesystem::path& file) {
  if (file_.is_open()) file_.close();
  file_.clear();
  file_path_ = file;
  file_failed_ = false;
  file_.open(file, std::ios::app);
  file_failed_ = !file_;
}

void RunLog::append(const std::string& line) {
  if (!file_.is_open() || file_failed_) return;
  file_ << timestamp() << ' ' << line << '\n' << std::flush;
  file_failed_ = !file_;
}

void RunLog::check_file() {
  if (file_path_.empty() || !file_failed_) return;
  file_.close();
  std::error_code ec;
  if (fs::file_size(file_path_, ec) == 0 && !ec) fs::remove(file_path_, ec);
  throw Error(fmt::format("cannot write {} in full (is the disk full?)", file_path_.string()));
}

void RunLog::write(LogLevel level, const std::string& scope, const std::string& message) {
  std::string prefix = scope.empty() ? "" : "[" + scope + "] ";
  if (rank_ >= 0) prefix = fmt::format("[rank {}] {}", rank_, prefix);
  append(fmt::format("{} {}{}", level_name(level), prefix, message));
  if (level == LogLevel::Debug && !verbose_) return;
  if (rank_ > 0 && level == LogLevel::Info && !verbose_) return;
  const std::string tag = level == LogLevel::Warning ? "warning: " : level == LogLevel::Error ? "error: " : "";
  std::cerr << prefix << tag << message << '\n';
}

void RunLog::file_only(const std::string& line) { append("info " + line); }

std::atomic<bool>& cancel_flag() {
  static std::atomic<bool> flag{false};
  return flag;
}

namespace {
extern "C" void on_interrupt(int signal) {
  if (cancel_flag().exchange(true)) {
    std::_Exit(128 + signal);  // second Ctrl-C: stop now
  }
  const char message[] = "\ninterrupt: finishing cleanly (press Ctrl-C again to abort at once)\n";
  [[maybe_unused]] auto ignored = ::write(STDERR_FILENO, message, sizeof message - 1);
}
}  // namespace

void install_interrupt_handler() {
  std::signal(SIGINT, on_interrupt);
  std::signal(SIGTERM, on_interrupt);
}

TerminalProgress::TerminalProgress(RunLog& log, std::string scope, std::string label, std::int64_t total,
                                   std::string unit)
    : log_(log), scope_(std::move(scope)), label_(std::move(label)), unit_(std::move(unit)), total_(total) {
  if (!log_.tty_checked_) {
    log_.tty_ = ::isatty(STDERR_FILENO) != 0;
    log_.tty_checked_ = true;
  }
}

TerminalProgress::~TerminalProgress() {
  if (done_ > 0) draw(true);
}

void TerminalProgress::advance(std::int64_t n) {
  done_ += n;
  if (cancel_flag().load()) throw Cancelled();
  const auto now = Clock::now();
  const auto interval = log_.tty() ? std::chrono::milliseconds(100) : std::chrono::milliseconds(5000);
  if (now - last_draw_ >= interval) draw(false);
}

void TerminalProgress::note(std::string text) { note_ = std::move(text); }

std::string TerminalProgress::line() const {
  const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
  const double rate = elapsed > 0 ? static_cast<double>(done_) / elapsed : 0.0;
  std::string eta = "?";
  if (rate > 0 && total_ > 0) {
    const auto left = static_cast<std::int64_t>(static_cast<double>(total_ - done_) / rate);
    eta = left >= 3600 ? fmt::format("{}:{:02}:{:02}", left / 3600, left / 60 % 60, left % 60)
                       : fmt::format("{}:{:02}", left / 60, left % 60);
  }
  const double fraction = total_ > 0 ? static_cast<double>(done_) / static_cast<double>(total_) : 0.0;
  constexpr int kWidth = 24;  // characters in the bar
  const int filled = static_cast<int>(fraction * kWidth);
  return fmt::format("[{}] {} [{}{}] {}/{} {} {:.1f} {}/s ETA {}{}", scope_, label_, std::string(filled, '#'),
                     std::string(kWidth - filled, '.'), done_, total_, unit_, rate, unit_, eta,
                     note_.empty() ? "" : "  " + note_);
}

void TerminalProgress::draw(bool final) {
  last_draw_ = Clock::now();
  if (log_.rank_ > 0 && !log_.verbose_) return;  // rank 0 shows the progress of a step the ranks share
  const auto text = line();
  if (log_.tty()) {
    std::cerr << '\r' << text << "\x1b[K" << (final ? "\n" : "") << std::flush;
  } else {
    std::cerr << text << '\n';
  }
  if (final || !log_.tty()) log_.file_only(text);
}

}  // namespace facet
