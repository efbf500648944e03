#pragma once

// Accounting shared by the data-set loaders: every row that does not make it
// into the data set is counted under its reason and reported, in the log,
// as metrics and as <run folder>/<step>/load_report.md.

#include <cstdint>
#include <map>
#include <set>
#include <string>

#include <facet/artifact.hpp>
#include <facet/context.hpp>

namespace facet::datasets {

class DropCounter {
 public:
  void add(const std::string& reason, std::int64_t count = 1) { counts_[reason] += count; }
  const std::map<std::string, std::int64_t>& counts() const { return counts_; }

 private:
  std::map<std::string, std::int64_t> counts_;
};

/// What a loader read, and what it dropped before cropping.
struct IndexAccount {
  std::string source;   ///< the data set's name ("pubfig"), kept as its `source` attribute
  std::string index;    ///< the index file(s) read, named in messages
  size_t rows = 0;      ///< index rows read
  DropCounter dropped;  ///< rows that did not become images, by reason
};

/// Logs and saves the account of `kept` images. Throws facet::Error naming
/// the index when nothing is left: an empty data set fails where it is made.
void report_drops(Context& ctx, const IndexAccount& account, size_t kept);

/// "person\timagenum" of every image a download manifest holds as fetched intact.
std::set<std::string> intact_downloads(const Artifact& manifest);

}  // namespace facet::datasets
