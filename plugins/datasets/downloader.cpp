#include "downloader.hpp"

#include <chrono>
#include <deque>
#include <map>
#include <queue>

#include <curl/curl.h>
#include <fmt/format.h>

#include <facet/errors.hpp>
#include <facet/files.hpp>

#include "image_files.hpp"

namespace facet::datasets {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

const char* status_name(DownloadStatus status) {
  switch (status) {
    case DownloadStatus::Ok:
      return "ok";
    case DownloadStatus::Present:
      return "present";
    case DownloadStatus::Missing:
      return "missing";
    case DownloadStatus::Timeout:
      return "timeout";
    case DownloadStatus::Dropped:
      return "dropped";
    case DownloadStatus::Changed:
      return "changed";
    case DownloadStatus::NotAnImage:
      return "not an image";
    case DownloadStatus::BadRect:
      return "bad rect";
  }
  return "?";
}

std::vector<std::string> status_names() {
  std::vector<std::string> names;
  for (int s = 0; s < kDownloadStatusCount; ++s) names.emplace_back(status_name(static_cast<DownloadStatus>(s)));
  return names;
}

namespace {

/// "host:port" of a URL: the unit the per-host connection limit counts.
/// Only the web is fetched: a file:// (or any other) URL in an index must not copy local files in.
bool is_web_url(const std::string& url) {
  std::string scheme = url.substr(0, std::min<size_t>(url.find("://"), 8));
  for (auto& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return url.find("://") != std::string::npos && (scheme == "http" || scheme == "https");
}

std::string host_of(const std::string& url) {
  const size_t scheme = url.find("://");
  const size_t begin = scheme == std::string::npos ? 0 : scheme + 3;
  const size_t end = url.find_first_of("/?#", begin);
  return url.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
}

struct Transfer {
  size_t job = 0;
  CURL* easy = nullptr;
  std::string body;
  bool too_large = false;
  std::int64_t max_bytes = 0;
};

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  if (static_cast<std::int64_t>(t->body.size() + size * count) > t->max_bytes) {
    t->too_large = true;
    return 0;  // aborts the transfer
  }
  t->body.append(data, size * count);
  return size * count;
}

/// An attempt's result: final, or worth retrying.
struct Attempt {
  DownloadOutcome outcome;
  bool transient = false;
};

/// The attempt's verdict: `got` (its HTTP code and bytes) with a status and why.
Attempt verdict(const DownloadOutcome& got, DownloadStatus status, std::string detail, bool transient) {
  DownloadOutcome o = got;
  o.status = status;
  o.detail = std::move(detail);
  return {std::move(o), transient};
}

/// A transfer that libcurl ended with an error.
Attempt transfer_error(CURLcode code, const Transfer& t, const DownloadOptions& options, const DownloadOutcome& got) {
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
      return verdict(got, DownloadStatus::Timeout, fmt::format("no complete answer within {} s", options.timeout_s),
                     true);
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
      return verdict(got, DownloadStatus::Dropped,
                     fmt::format("connection dropped after {} bytes ({})", got.bytes, curl_easy_strerror(code)), true);
    case CURLE_WRITE_ERROR:
      return verdict(got, DownloadStatus::NotAnImage,
                     t.too_large ? fmt::format("larger than {} bytes", options.max_bytes) : "write error", false);
    case CURLE_COULDNT_CONNECT:
      return verdict(got, DownloadStatus::Missing, curl_easy_strerror(code), true);
    default:  // unresolvable hosts, TLS failures, too many redirects: not worth retrying
      return verdict(got, DownloadStatus::Missing, curl_easy_strerror(code), false);
  }
}

/// A complete answer: an HTTP error, not an image, an image cut short, one
/// whose MD5 changed (kept aside), or the image, saved.
Attempt answer(const DownloadJob& job, const Transfer& t, const DownloadOptions& options, const DownloadOutcome& got) {
  if (got.http_code >= 400) {
    const bool transient = got.http_code >= 500 || got.http_code == 429 || got.http_code == 408;
    return verdict(got, DownloadStatus::Missing, fmt::format("HTTP {}", got.http_code), transient);
  }
  const auto format = sniff_image_format(t.body);
  if (format.empty()) {
    char* type = nullptr;
    curl_easy_getinfo(t.easy, CURLINFO_CONTENT_TYPE, &type);
    return verdict(got, DownloadStatus::NotAnImage,
                   fmt::format("{} bytes of {}", got.bytes, type != nullptr ? type : "unknown type"), false);
  }
  if (!image_is_complete(t.body, format)) {
    return verdict(got, DownloadStatus::Dropped, fmt::format("image cut short after {} bytes", got.bytes), true);
  }
  const auto md5 = md5_hex(t.body);
  if (!job.md5.empty() && md5 != job.md5) {
    facet::write_file(image_path(options.root / "_changed", job.person, job.imagenum, format), t.body);
    return verdict(got, DownloadStatus::Changed, fmt::format("MD5 {} instead of {}", md5, job.md5), false);
  }
  facet::write_file(image_path(options.root, job.person, job.imagenum, format), t.body);
  return verdict(got, DownloadStatus::Ok, "", false);
}

Attempt judge(const DownloadJob& job, const Transfer& t, CURLcode code, const DownloadOptions& options) {
  DownloadOutcome o;
  curl_easy_getinfo(t.easy, CURLINFO_RESPONSE_CODE, &o.http_code);
  o.bytes = static_cast<std::int64_t>(t.body.size());
  return code == CURLE_OK ? answer(job, t, options, o) : transfer_error(code, t, options, o);
}

class Downloader {
 public:
  Downloader(const std::vector<DownloadJob>& jobs, const DownloadOptions& options)
      : jobs_(jobs), options_(options), outcomes_(jobs.size()) {
    static const CURLcode global = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (global != CURLE_OK) throw Error(fmt::format("libcurl failed to start: {}", curl_easy_strerror(global)));
    multi_ = curl_multi_init();
    curl_multi_setopt(multi_, CURLMOPT_MAX_TOTAL_CONNECTIONS, static_cast<long>(options.connections));
    curl_multi_setopt(multi_, CURLMOPT_MAX_HOST_CONNECTIONS, static_cast<long>(options.per_host));
  }

  ~Downloader() {
    for (auto& [easy, t] : active_) {
      curl_multi_remove_handle(multi_, easy);
      curl_easy_cleanup(easy);
    }
    curl_multi_cleanup(multi_);
  }

  std::vector<DownloadOutcome> run(const std::function<void()>& done, const std::function<bool()>& cancelled) {
    for (size_t i = 0; i < jobs_.size(); ++i) {
      if (!settle_without_fetching(i)) {
        queue_[host_of(jobs_[i].url)].push_back(i);
      } else {
        done();
      }
    }
    while (!queue_.empty() || !active_.empty() || !waiting_.empty()) {
      if (cancelled()) return {};
      promote_due_retries();
      start_transfers();
      int running = 0;
      curl_multi_perform(multi_, &running);
      collect(done);
      curl_multi_poll(multi_, nullptr, 0, 100, nullptr);
    }
    return std::move(outcomes_);
  }

 private:
  /// True when a job is decided without the network: a bad rect, or the
  /// image already on disk with the right MD5.
  bool settle_without_fetching(size_t i) {
    const auto& job = jobs_[i];
    if (job.skip_bad_rect) {
      outcomes_[i] = {DownloadStatus::BadRect, "invalid face box; not fetched", 0, 0, 0};
      return true;
    }
    if (!is_web_url(job.url)) {
      outcomes_[i] = {DownloadStatus::Missing, "not an http or https URL; not fetched", 0, 0, 0};
      return true;
    }
    const auto existing = find_image(options_.root, job.person, job.imagenum);
    if (existing.empty()) return false;
    const auto bytes = read_bytes(existing);
    if (!job.md5.empty() && md5_hex(bytes) != job.md5) return false;  // a damaged earlier copy: fetch again
    outcomes_[i] = {DownloadStatus::Present, existing.string(), 0, static_cast<std::int64_t>(bytes.size()), 0};
    return true;
  }

  void promote_due_retries() {
    const auto now = Clock::now();
    while (!waiting_.empty() && waiting_.top().first <= now) {
      const size_t i = waiting_.top().second;
      waiting_.pop();
      queue_[host_of(jobs_[i].url)].push_front(i);
    }
  }

  void start_transfers() {
    for (auto it = queue_.begin(); it != queue_.end() && static_cast<int>(active_.size()) < options_.connections;) {
      auto& [host, pending] = *it;
      if (per_host_[host] < options_.per_host && !pending.empty()) {
        start(pending.front());
        pending.pop_front();
      }
      it = pending.empty() ? queue_.erase(it) : std::next(it);
    }
  }

  void start(size_t i) {
    CURL* easy = curl_easy_init();
    auto& t = active_[easy];
    t = {i, easy, {}, false, options_.max_bytes};
    curl_easy_setopt(easy, CURLOPT_URL, jobs_[i].url.c_str());
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");  // a redirect to file:// is refused too
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(easy, CURLOPT_MAXREDIRS, static_cast<long>(options_.max_redirects));
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.timeout_s * 1000));
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.connect_timeout_s * 1000));
    curl_easy_setopt(easy, CURLOPT_USERAGENT, options_.user_agent.c_str());
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "");
    curl_multi_add_handle(multi_, easy);
    ++per_host_[host_of(jobs_[i].url)];
  }

  void collect(const std::function<void()>& done) {
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      CURL* easy = msg->easy_handle;
      const CURLcode code = msg->data.result;
      Transfer t = std::move(active_.at(easy));
      active_.erase(easy);
      --per_host_[host_of(jobs_[t.job].url)];
      auto attempt = judge(jobs_[t.job], t, code, options_);
      curl_multi_remove_handle(multi_, easy);
      curl_easy_cleanup(easy);
      const int attempts = ++attempts_[t.job];
      attempt.outcome.attempts = attempts;
      if (attempt.transient && attempts <= options_.retries) {
        const auto delay = std::chrono::duration<double>(options_.backoff_s * std::pow(2.0, attempts - 1));
        waiting_.push({Clock::now() + std::chrono::duration_cast<Clock::duration>(delay), t.job});
        continue;
      }
      outcomes_[t.job] = std::move(attempt.outcome);
      done();
    }
  }

  const std::vector<DownloadJob>& jobs_;
  const DownloadOptions& options_;
  std::vector<DownloadOutcome> outcomes_;
  CURLM* multi_ = nullptr;
  std::map<std::string, std::deque<size_t>> queue_;  // host -> jobs not yet started
  std::map<std::string, int> per_host_;              // host -> transfers in flight
  std::map<CURL*, Transfer> active_;
  std::map<size_t, int> attempts_;
  using Due = std::pair<Clock::time_point, size_t>;
  std::priority_queue<Due, std::vector<Due>, std::greater<>> waiting_;  // retries by due time
};

}  // namespace

std::vector<DownloadOutcome> download_all(const std::vector<DownloadJob>& jobs, const DownloadOptions& options,
                                          const std::function<void()>& done, const std::function<bool()>& cancelled) {
  return Downloader(jobs, options).run(done, cancelled);
}

}  // namespace facet::datasets
