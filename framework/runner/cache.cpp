#include "cache.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "facet/errors.hpp"
#include "text_util.hpp"

namespace facet {
namespace fs = std::filesystem;

namespace {
std::string file_stamp(const fs::directory_entry& entry) {
  const auto mtime = entry.last_write_time().time_since_epoch().count();
  return fmt::format("{} {}", entry.file_size(), mtime);
}

/// What a path parameter names, cheaply: every file's name, size and
/// modification time (a folder recursively), or "missing".
std::string path_fingerprint(const fs::path& path) {
  std::error_code ec;
  const fs::directory_entry root(path, ec);
  if (ec || !root.exists()) return "missing";
  if (!root.is_directory()) return file_stamp(root);
  std::vector<std::string> lines;
  for (const auto& entry : fs::recursive_directory_iterator(path, fs::directory_options::skip_permission_denied, ec)) {
    if (entry.is_regular_file()) lines.push_back(fs::relative(entry.path(), path).string() + " " + file_stamp(entry));
  }
  std::sort(lines.begin(), lines.end());
  return sha256_hex(fmt::format("{}", fmt::join(lines, "\n")));
}
}  // namespace

std::string cache_key(const StepConfig& step, std::uint64_t seed, const std::map<std::string, std::string>& input_keys,
                      int ranks) {
  std::string text = "facet-cache-key v1\n";
  text += fmt::format("step {}\nversion {}\nseed {}\n", step.step->info.name, step.step->info.version, seed);
  if (ranks > 1) text += fmt::format("ranks {}\n", ranks);  // absent for one process: its keys stay as they were
  for (const auto& [name, value] : step.params.values())
    text += fmt::format("param {} {}\n", name, format_value(value));
  for (const auto& [port, key] : input_keys) text += fmt::format("input {} {}\n", port, key);
  for (const auto& spec : step.step->info.params) {
    if (spec.type == ParamType::Path) {
      text += fmt::format("files {} {}\n", spec.name, path_fingerprint(step.params.get_string(spec.name)));
    }
  }
  return sha256_hex(text);
}

namespace {

constexpr const char* kFormat = "facet-cache";
/// 2: entries carry a digest of their attributes and layout, in HDF5 1.10's checksummed format.
constexpr std::int64_t kFormatVersion = 2;
constexpr const char* kMetricPrefix = "metric:";
constexpr const char* kDigestAttr = "digest";

std::string canonical(const AttrValue& value) {
  // Strings are length-prefixed so that no two different values print alike.
  auto text = [](const std::string& s) { return fmt::format("{}:{}", s.size(), s); };
  if (const auto* i = std::get_if<std::int64_t>(&value)) return fmt::format("int {}", *i);
  if (const auto* d = std::get_if<double>(&value)) return fmt::format("float {}", *d);
  if (const auto* s = std::get_if<std::string>(&value)) return "text " + text(*s);
  std::string out = "list";
  for (const auto& item : std::get<std::vector<std::string>>(value)) out += " " + text(item);
  return out;
}

/// SHA-256 over every attribute, tensor name, shape and type of an entry, and
/// the values of its scalar tensors (stored unchunked, so without checksums).
std::string entry_digest(const Artifacts& outputs, const FileAttrs& file_attrs) {
  std::string text = "facet-cache-digest v1\n";
  for (const auto& [name, value] : file_attrs) {
    if (name != kDigestAttr) text += fmt::format("file-attr {} {}\n", name, canonical(value));
  }
  for (const auto& [artifact_name, artifact] : outputs) {
    text += fmt::format("artifact {}\n", artifact_name);
    for (const auto& [name, value] : artifact.attrs()) text += fmt::format("attr {} {}\n", name, canonical(value));
    for (const auto& name : artifact.tensor_names()) {
      const auto shape = artifact.shape(name);
      text += fmt::format("tensor {} {} [{}]", name, c10::toString(artifact.dtype(name)), fmt::join(shape, ","));
      if (shape.empty()) {
        const auto value = artifact.get(name).contiguous();
        const auto* bytes = static_cast<const unsigned char*>(value.data_ptr());
        for (size_t i = 0; i < value.nbytes(); ++i) text += fmt::format("{:02x}", bytes[i]);
      }
      text += "\n";
    }
  }
  return sha256_hex(text);
}

std::string text_attr(const FileAttrs& attrs, const char* name) {
  auto it = attrs.find(name);
  const auto* s = it == attrs.end() ? nullptr : std::get_if<std::string>(&it->second);
  return s ? *s : std::string();
}

std::int64_t int_attr(const FileAttrs& attrs, const char* name) {
  auto it = attrs.find(name);
  const auto* i = it == attrs.end() ? nullptr : std::get_if<std::int64_t>(&it->second);
  return i ? *i : 0;
}

/// Why a read entry cannot be used, or "" when it can.
std::string entry_problem(const StepConfig& step, const std::string& key, const Artifacts& outputs,
                          const FileAttrs& attrs) {
  if (text_attr(attrs, "facet_format") != kFormat) return "not a facet cache entry";
  const auto version = int_attr(attrs, "facet_format_version");
  if (version != kFormatVersion) {
    return fmt::format("entry format {} is not this runner's ({})", version, kFormatVersion);
  }
  if (text_attr(attrs, "key") != key) return "its key does not match its name";
  for (const auto& out : step.step->info.outputs) {
    if (outputs.count(out.name) == 0) return fmt::format("output '{}' is missing", out.name);
  }
  if (text_attr(attrs, kDigestAttr) != entry_digest(outputs, attrs)) {
    return "its attributes or layout changed after it was written (digest mismatch)";
  }
  return "";
}

}  // namespace

void write_entry(ArtifactFileWriter& writer, const Artifacts& outputs, const EntryStamp& stamp) {
  for (const auto& [name, artifact] : outputs) writer.write(name, artifact);
  FileAttrs attrs = {{"facet_format", std::string(kFormat)},
                     {"facet_format_version", kFormatVersion},
                     {"key", stamp.key},
                     {"step", stamp.step},
                     {"step_version", stamp.step_version}};
  for (const auto& [name, value] : stamp.metrics) attrs[kMetricPrefix + name] = value;
  attrs[kDigestAttr] = entry_digest(outputs, attrs);
  for (const auto& [name, value] : attrs) writer.set_file_attr(name, value);
  writer.commit();
}

fs::path Cache::path_for(const std::string& step_name, const std::string& key) const {
  return dir_ / fmt::format("{}-{}.h5", step_name, key.substr(0, 32));
}

bool Cache::contains(const std::string& step_name, const std::string& key) const {
  return fs::exists(path_for(step_name, key));
}

std::optional<CacheHit> Cache::read(const StepConfig& step, const std::string& key, std::string* problem) const {
  const auto path = path_for(step.step->info.name, key);
  if (!fs::exists(path)) return std::nullopt;
  try {
    FileAttrs attrs;
    CacheHit hit;
    hit.outputs = read_artifact_file(path, &attrs);
    *problem = entry_problem(step, key, hit.outputs, attrs);
    if (!problem->empty()) return std::nullopt;
    for (const auto& [name, value] : attrs) {
      if (name.rfind(kMetricPrefix, 0) != 0) continue;
      if (const auto* d = std::get_if<double>(&value)) hit.metrics[name.substr(std::strlen(kMetricPrefix))] = *d;
    }
    return hit;
  } catch (const std::exception& e) {
    *problem = e.what();
  }
  return std::nullopt;
}

std::optional<CacheHit> Cache::lookup(const StepConfig& step, const std::string& key, std::string* problem) const {
  std::string why;
  auto hit = read(step, key, &why);
  if (!hit && !why.empty()) *problem = set_aside(path_for(step.step->info.name, key), why);
  return hit;
}

std::string Cache::set_aside(const fs::path& entry, const std::string& why) const {
  fs::path aside = entry;
  aside += ".damaged";
  std::error_code ec;
  fs::rename(entry, aside, ec);
  if (ec) {
    return fmt::format(
        "cache entry {} is damaged or foreign ({}); it could not be moved aside ({}) and stays "
        "where it is; recomputing",
        entry.string(), why, ec.message());
  }
  return fmt::format("cache entry {} is damaged or foreign ({}); moved aside to {} and recomputing", entry.string(),
                     why, aside.filename().string());
}

EntryLock& EntryLock::operator=(EntryLock&& other) noexcept {
  if (this != &other) {
    release();
    fd_ = other.fd_;
    path_ = std::move(other.path_);
    other.fd_ = -1;
  }
  return *this;
}

void EntryLock::release() {
  if (fd_ < 0) return;
  // Unlinked while still held: a runner waiting on this file notices it is
  // gone once it gets the lock, and takes a fresh one.
  ::unlink(path_.c_str());
  ::close(fd_);
  fd_ = -1;
}

namespace {
/// Whether `fd` is still the file at `path` (its holder may have unlinked it).
bool still_linked(int fd, const fs::path& path) {
  struct stat held {};
  struct stat named {};
  return ::fstat(fd, &held) == 0 && ::stat(path.c_str(), &named) == 0 && held.st_ino == named.st_ino &&
         held.st_dev == named.st_dev;
}

std::string read_holder(int fd) {
  char buffer[256] = {};
  const ssize_t n = ::pread(fd, buffer, sizeof buffer - 1, 0);
  std::string text = n > 0 ? std::string(buffer, static_cast<size_t>(n)) : std::string();
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text.empty() ? std::string("another runner") : text;
}
}  // namespace

EntryLock Cache::lock(const std::string& step_name, const std::string& key,
                      const std::function<void(const std::string&)>& waiting,
                      const std::function<bool()>& cancelled) const {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  fs::path path = path_for(step_name, key);
  path += ".lock";
  bool told = false;
  for (;;) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
      throw Error(system_error_text(fmt::format("cannot write in the cache folder {} (use --cache-dir DIR or "
                                                "--no-cache)",
                                                dir_.string()),
                                    errno));
    }
    while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      if (errno != EWOULDBLOCK && errno != EINTR) {
        const int error = errno;
        ::close(fd);
        throw Error(system_error_text("cannot lock " + path.string(), error));
      }
      if (!told) {
        waiting(read_holder(fd));
        told = true;
      }
      if (cancelled()) {
        ::close(fd);
        throw Cancelled();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (!still_linked(fd, path)) {
      ::close(fd);
      continue;
    }
    char host[128] = {};
    ::gethostname(host, sizeof host - 1);
    const std::string holder = fmt::format("runner {} on {}\n", ::getpid(), host);
    [[maybe_unused]] auto written = ::pwrite(fd, holder.data(), holder.size(), 0);
    [[maybe_unused]] auto truncated = ::ftruncate(fd, static_cast<off_t>(holder.size()));
    return EntryLock(fd, path);
  }
}

std::vector<StaleTemporary> Cache::remove_stale_temporaries() const { return facet::remove_stale_temporaries(dir_); }

}  // namespace facet
