#pragma once

// Training curves (Context::scalar): kept as <step id>/scalars.csv among the
// files a step saves, so the cache entry and the run folder both hold them.

#include <cstdint>
#include <string>
#include <vector>

namespace facet {

/// The file of a step's curves.
constexpr const char* kScalarsFile = "scalars.csv";

/// One point of a series ("train/loss" at epoch 3).
struct ScalarPoint {
  std::string series;
  std::int64_t step = 0;
  double value = 0;
};

/// A step's curves in the order it reported them.
class ScalarLog {
 public:
  void add(std::string series, std::int64_t step, double value);
  bool empty() const { return points_.empty(); }
  const std::vector<ScalarPoint>& points() const { return points_; }
  /// "series,step,value" lines after that header; series names are quoted when they need it.
  std::string to_csv() const;
  /// Reads what to_csv wrote; throws facet::Error naming `where` and the line otherwise.
  static ScalarLog from_csv(const std::string& text, const std::string& where);

 private:
  std::vector<ScalarPoint> points_;
};

}  // namespace facet
