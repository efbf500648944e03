#pragma once

// A polite parallel image downloader (libcurl): bounded connections overall
// and per host, per-request timeouts, retries with exponential backoff for
// transient failures, redirects, MD5 verification, rejection of payloads that
// are not images, and resume: an image already on disk with the right MD5 is
// never fetched again.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace facet::datasets {

enum class DownloadStatus : std::int64_t {
  Ok = 0,          ///< fetched and verified
  Present = 1,     ///< already on disk with the right MD5
  Missing = 2,     ///< HTTP error or host unreachable
  Timeout = 3,     ///< no complete answer within the timeout
  Dropped = 4,     ///< the connection closed mid-body
  Changed = 5,     ///< an image, but not the one indexed (MD5 differs); kept under _changed/
  NotAnImage = 6,  ///< an HTML page or other non-image payload
  BadRect = 7,     ///< the face box is invalid: not fetched
};
inline constexpr int kDownloadStatusCount = 8;
const char* status_name(DownloadStatus status);
std::vector<std::string> status_names();

struct DownloadJob {
  std::string person;
  std::int64_t imagenum = 0;
  std::string url;
  std::string md5;  ///< expected lower-case hex; empty: not checked
  bool skip_bad_rect = false;
};

struct DownloadOptions {
  std::filesystem::path root;  ///< images go to root/Person_Name/IMAGENUM.ext
  int connections = 16;
  int per_host = 2;
  double timeout_s = 30.0;
  double connect_timeout_s = 10.0;
  int retries = 3;
  double backoff_s = 1.0;  ///< first retry's delay; doubled after each attempt
  int max_redirects = 5;
  std::int64_t max_bytes = 32 << 20;
  std::string user_agent = "facet-pubfig-downloader/1.0";
};

struct DownloadOutcome {
  DownloadStatus status = DownloadStatus::Missing;
  std::string detail;
  long http_code = 0;
  std::int64_t bytes = 0;
  int attempts = 0;
};

/// Fetches every job; `done` is called once per finished job, `cancelled`
/// polled a few times a second (true stops at once; files already written
/// stay, and count as present next time).
std::vector<DownloadOutcome> download_all(const std::vector<DownloadJob>& jobs, const DownloadOptions& options,
                                          const std::function<void()>& done, const std::function<bool()>& cancelled);

}  // namespace facet::datasets
