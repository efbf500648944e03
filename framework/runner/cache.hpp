#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "facet/artifact_file.hpp"
#include "pipeline.hpp"

namespace facet {

/// Content hash of one step: step name, plugin version, resolved parameters,
/// the keys of its inputs, its derived seed and the state of the files its
/// path parameters name (SHA-256, hex).
std::string cache_key(const StepConfig& step, std::uint64_t seed, const std::map<std::string, std::string>& input_keys);

/// A step's outputs as found in the cache, with the metrics it reported.
struct CacheHit {
  Artifacts outputs;
  std::map<std::string, double> metrics;
};

/// The content-addressed store: one HDF5 artifact file per step execution.
class Cache {
 public:
  explicit Cache(std::filesystem::path dir) : dir_(std::move(dir)) {}

  std::filesystem::path path_for(const std::string& step_name, const std::string& key) const;

  /// The entry for `key`, checked: format, key and declared outputs. A
  /// damaged or foreign file is moved aside (`.damaged`), `problem` says why,
  /// and nullopt is returned so that the step is recomputed.
  std::optional<CacheHit> lookup(const StepConfig& step, const std::string& key, std::string* problem) const;

  /// Whether an entry exists (for --dry-run; not validated).
  bool contains(const std::string& step_name, const std::string& key) const;

 private:
  std::filesystem::path dir_;
};

/// File attributes that make an artifact file a cache entry.
constexpr const char* kCacheFormat = "facet-cache";
constexpr std::int64_t kCacheFormatVersion = 1;
constexpr const char* kMetricPrefix = "metric:";
/// Group of a cache entry that holds the files a step saved for the run folder.
constexpr const char* kFilesGroup = "_files";

}  // namespace facet
