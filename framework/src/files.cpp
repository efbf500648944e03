#include "facet/files.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <signal.h>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "facet/errors.hpp"

namespace facet {
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kTempMarker = ".tmp-";

const std::string& host_name() {
  static const std::string name = [] {
    char buffer[256] = {};
    if (::gethostname(buffer, sizeof buffer - 1) != 0 || buffer[0] == '\0') return std::string("localhost");
    std::string host = buffer;
    for (auto& c : host) {
      if (c == '/' || c == '-') c = '_';  // '-' separates the host from the pid
    }
    return host;
  }();
  return name;
}

/// Whether process `pid` of this machine still runs.
bool process_alive(long pid) { return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM; }

/// The host and pid a temporary's name records: "<name>.tmp-<host>-<pid>",
/// or "<name>.tmp-<pid>" (this machine) as written before hosts were named.
bool parse_temporary(const std::string& name, std::string& host, long& pid) {
  const auto marker = name.rfind(kTempMarker);
  if (marker == std::string::npos) return false;
  const std::string tail = name.substr(marker + kTempMarker.size());
  const auto dash = tail.rfind('-');
  host = dash == std::string::npos ? host_name() : tail.substr(0, dash);
  const std::string digits = dash == std::string::npos ? tail : tail.substr(dash + 1);
  if (digits.empty() || digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos) return false;
  pid = std::stol(digits);
  return pid > 0;
}

/// Writes `bytes` to a new file `path`; 0 or the errno of the first failure.
int write_all(const fs::path& path, std::string_view bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return errno;
  int error = 0;
  for (size_t done = 0; done < bytes.size() && error == 0;) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n > 0) {
      done += static_cast<size_t>(n);
    } else if (n == 0 || errno != EINTR) {
      error = n == 0 ? ENOSPC : errno;
    }
  }
  if (::close(fd) != 0 && error == 0) error = errno;
  return error;
}

}  // namespace

std::string system_error_text(const std::string& what, int errno_value) {
  return fmt::format("{}: {}", what, std::strerror(errno_value));
}

fs::path temp_path_for(const fs::path& path) {
  fs::path temp = path;
  temp += fmt::format("{}{}-{}", kTempMarker, host_name(), ::getpid());
  return temp;
}

void write_file(const fs::path& path, std::string_view bytes) {
  std::error_code ec;
  if (path.has_parent_path()) fs::create_directories(path.parent_path(), ec);
  if (ec) throw Error(fmt::format("cannot create folder {}: {}", path.parent_path().string(), ec.message()));
  const fs::path temp = temp_path_for(path);
  int error = write_all(temp, bytes);
  if (error == 0 && ::rename(temp.c_str(), path.c_str()) != 0) error = errno;
  if (error == 0) return;
  ::unlink(temp.c_str());
  throw Error(system_error_text("cannot write " + path.string(), error));
}

std::vector<StaleTemporary> remove_stale_temporaries(const fs::path& dir) {
  std::vector<StaleTemporary> removed;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string host;
    long pid = 0;
    if (!parse_temporary(entry.path().filename().string(), host, pid)) continue;
    if (host != host_name() || pid == ::getpid() || process_alive(pid)) continue;
    std::error_code ignored;
    if (fs::remove(entry.path(), ignored)) removed.push_back({entry.path(), pid});
  }
  return removed;
}

}  // namespace facet
