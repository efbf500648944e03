#pragma once

// A finished (or failed, or interrupted) run as its folder tells it:
// metrics.json, the resolved pipeline.yaml and each step's files. The
// reports are built from this, so a report can be made again from the folder
// alone (runner report RUN_DIR).

#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "scalars.hpp"

namespace facet {

/// One step of a run.
struct StepView {
  std::string id;
  std::string uses;
  std::string status;  ///< ran, cached, failed, interrupted; "not run" when the run stopped before it
  std::string key;
  std::string error;  ///< why it failed or stopped
  double seconds = 0;
  std::vector<std::pair<std::string, double>> metrics;  ///< NaN where metrics.json holds null
  std::vector<std::string> files;                       ///< names in <run>/<id>/, sorted
  ScalarLog scalars;                                    ///< from <run>/<id>/scalars.csv
};

struct RunView {
  std::filesystem::path dir;
  std::string pipeline;
  std::string outcome;     ///< ok, failed, interrupted
  std::string stopped_at;  ///< the step that failed or was interrupted
  std::string pipeline_yaml;
  /// Every setting of the resolved pipeline, flattened: "seed", "steps.backbone.with.lr", ...
  std::map<std::string, std::string> settings;
  std::vector<StepView> steps;  ///< in run order, then the steps not run
};

/// Reads a run folder. Throws facet::Error naming the folder when it holds no
/// metrics.json or it cannot be read.
RunView read_run(const std::filesystem::path& dir);

}  // namespace facet
