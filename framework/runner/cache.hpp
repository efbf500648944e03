#pragma once

// The cache: one HDF5 artifact file per step execution, named by a content
// hash of everything the step's outputs depend on. This file owns the entry
// format (its file attributes and digest); nothing else writes or reads them.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "facet/artifact_file.hpp"
#include "facet/files.hpp"
#include "pipeline.hpp"

namespace facet {

/// Content hash of one step: step name, plugin version, resolved parameters,
/// the keys of its inputs, its derived seed and the state of the files its
/// path parameters name (SHA-256, hex).
/// `ranks`: the processes a data-parallel step trains on, when more than one.
std::string cache_key(const StepConfig& step, std::uint64_t seed, const std::map<std::string, std::string>& input_keys,
                      int ranks = 1);

/// What a cache entry records besides the outputs.
struct EntryStamp {
  std::string key;
  std::string step;          ///< the registered step name
  std::string step_version;  ///< the plugin's version of it
  std::map<std::string, double> metrics;
};

/// Writes `outputs` and `stamp` through `writer` as a cache entry and commits
/// it. A digest of every attribute, tensor name, shape and type (and of scalar
/// tensors' values) is stored with it; the data chunks carry their own
/// Fletcher-32 checksums, so any change to a written entry is detected.
void write_entry(ArtifactFileWriter& writer, const Artifacts& outputs, const EntryStamp& stamp);

/// A step's outputs as found in the cache, with the metrics it reported.
struct CacheHit {
  Artifacts outputs;
  std::map<std::string, double> metrics;
};

/// Held while a runner computes one entry: an advisory lock (flock) on
/// "<entry>.lock", released when the holder finishes or dies. A second
/// runner wanting the same entry waits, then reads the first one's result.
class EntryLock {
 public:
  EntryLock() = default;
  EntryLock(int fd, std::filesystem::path path) : fd_(fd), path_(std::move(path)) {}
  EntryLock(EntryLock&& other) noexcept : fd_(other.fd_), path_(std::move(other.path_)) { other.fd_ = -1; }
  EntryLock& operator=(EntryLock&& other) noexcept;
  EntryLock(const EntryLock&) = delete;
  EntryLock& operator=(const EntryLock&) = delete;
  ~EntryLock() { release(); }
  void release();

 private:
  int fd_ = -1;
  std::filesystem::path path_;
};

/// The content-addressed store of step outputs.
class Cache {
 public:
  explicit Cache(std::filesystem::path dir) : dir_(std::move(dir)) {}

  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path path_for(const std::string& step_name, const std::string& key) const;

  /// The entry for `key`, checked: format, key, declared outputs and digest.
  /// A damaged or foreign file is moved aside (set_aside), `problem` says
  /// what happened, and nullopt is returned so that the step is recomputed.
  std::optional<CacheHit> lookup(const StepConfig& step, const std::string& key, std::string* problem) const;

  /// The entry for `key`, checked as lookup() does, but left where it is when
  /// it cannot be used (a rank other than 0 only reads the cache).
  std::optional<CacheHit> read(const StepConfig& step, const std::string& key, std::string* problem) const;

  /// Whether an entry exists (for --dry-run; not validated).
  bool contains(const std::string& step_name, const std::string& key) const;

  /// Moves a damaged entry to "<entry>.damaged" and says, for the log, what
  /// was done: moved aside, or why it could not be (a read-only folder).
  std::string set_aside(const std::filesystem::path& entry, const std::string& why) const;

  /// Takes the lock of an entry; when another runner holds it, calls
  /// `waiting` once (with who holds it) and waits, polling `cancelled`
  /// (facet::Cancelled is thrown when it turns true).
  EntryLock lock(const std::string& step_name, const std::string& key,
                 const std::function<void(const std::string& holder)>& waiting,
                 const std::function<bool()>& cancelled) const;

  /// Removes the temporaries of runners that died while writing an entry.
  std::vector<StaleTemporary> remove_stale_temporaries() const;

 private:
  std::filesystem::path dir_;
};

/// Group of a cache entry that holds the files a step saved for the run folder.
constexpr const char* kFilesGroup = "_files";

}  // namespace facet
