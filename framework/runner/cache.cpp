#include "cache.hpp"

#include <algorithm>

#include <openssl/evp.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "facet/errors.hpp"

namespace facet {
namespace fs = std::filesystem;

namespace {
std::string sha256_hex(const std::string& text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha256(), nullptr);
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) hex += fmt::format("{:02x}", digest[i]);
  return hex;
}

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

std::string cache_key(const StepConfig& step, std::uint64_t seed,
                      const std::map<std::string, std::string>& input_keys) {
  std::string text = "facet-cache-key v1\n";
  text += fmt::format("step {}\nversion {}\nseed {}\n", step.step->info.name, step.step->info.version, seed);
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

fs::path Cache::path_for(const std::string& step_name, const std::string& key) const {
  return dir_ / fmt::format("{}-{}.h5", step_name, key.substr(0, 32));
}

bool Cache::contains(const std::string& step_name, const std::string& key) const {
  return fs::exists(path_for(step_name, key));
}

std::optional<CacheHit> Cache::lookup(const StepConfig& step, const std::string& key, std::string* problem) const {
  const auto path = path_for(step.step->info.name, key);
  if (!fs::exists(path)) return std::nullopt;
  std::string why;
  try {
    FileAttrs attrs;
    CacheHit hit;
    hit.outputs = read_artifact_file(path, &attrs);
    auto text = [&](const char* name) {
      auto it = attrs.find(name);
      const auto* s = it == attrs.end() ? nullptr : std::get_if<std::string>(&it->second);
      return s ? *s : std::string();
    };
    if (text("facet_format") != kCacheFormat) {
      why = "not a facet cache entry";
    } else if (text("key") != key) {
      why = "its key does not match its name";
    } else {
      for (const auto& out : step.step->info.outputs) {
        if (hit.outputs.count(out.name) == 0) why = fmt::format("output '{}' is missing", out.name);
      }
    }
    if (why.empty()) {
      // Touch every tensor's header so a damaged dataset is caught here, not mid-run downstream.
      for (const auto& [name, artifact] : hit.outputs) {
        for (const auto& t : artifact.tensor_names()) (void)artifact.shape(t);
      }
      for (const auto& [name, value] : attrs) {
        if (name.rfind(kMetricPrefix, 0) == 0) {
          if (const auto* d = std::get_if<double>(&value))
            hit.metrics[name.substr(std::string(kMetricPrefix).size())] = *d;
        }
      }
      return hit;
    }
  } catch (const std::exception& e) {
    why = e.what();
  }
  fs::path aside = path;
  aside += ".damaged";
  std::error_code ec;
  fs::rename(path, aside, ec);
  *problem = fmt::format("cache entry {} is damaged or foreign ({}); moved aside to {} and recomputing", path.string(),
                         why, aside.filename().string());
  return std::nullopt;
}

}  // namespace facet
