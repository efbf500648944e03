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

namespace facet::faces {

class DropCounter {
 public:
  void add(const std::string& reason, std::int64_t count = 1) { counts_[reason] += count; }
  const std::map<std::string, std::int64_t>& counts() const { return counts_; }

 private:
  std::map<std::string, std::int64_t> counts_;
};

void report_drops(Context& ctx, size_t rows, size_t kept, const DropCounter& dropped);

/// "person\timagenum" of every image a download manifest holds as fetched intact.
std::set<std::string> intact_downloads(const Artifact& manifest);

}  // namespace facet::faces
