#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>

#include "facet/export.hpp"

namespace facet {

/// An error a user can act on. what() is the one-line message shown to the
/// user (culprit and fix); detail() is optional debugging context that goes
/// to the log only (the GStreamer "text, debug" split).
class FACET_API Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message, std::string detail = {})
      : std::runtime_error(message), detail_(std::move(detail)) {}
  const std::string& detail() const noexcept { return detail_; }

 private:
  std::string detail_;
};

/// A stored tensor that cannot be read back (a checksum mismatch, a short
/// chunk): its file is damaged. The runner moves a damaged cache entry aside
/// and recomputes it, then retries the step that was reading it.
class FACET_API DamagedFile : public Error {
 public:
  DamagedFile(const std::string& message, std::filesystem::path file, std::string detail = {})
      : Error(message, std::move(detail)), file_(std::move(file)) {}
  const std::filesystem::path& file() const noexcept { return file_; }

 private:
  std::filesystem::path file_;
};

/// Thrown from Context::check_cancelled() after Ctrl-C. Steps let it
/// propagate; the runner discards the partial outputs and exits with 130.
class FACET_API Cancelled : public std::runtime_error {
 public:
  Cancelled() : std::runtime_error("interrupted") {}
};

}  // namespace facet
