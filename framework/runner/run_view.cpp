#include "run_view.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

#include "facet/errors.hpp"

namespace facet {
namespace fs = std::filesystem;

namespace {

std::string read_text(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

/// "a.b.c" -> scalar text, for every leaf of a YAML tree.
void flatten(const YAML::Node& node, const std::string& path, std::map<std::string, std::string>& out) {
  if (node.IsMap()) {
    for (auto it = node.begin(); it != node.end(); ++it) {
      const auto key = it->first.Scalar();
      flatten(it->second, path.empty() ? key : path + "." + key, out);
    }
  } else if (node.IsScalar()) {
    out[path] = node.Scalar();
  } else {
    YAML::Emitter flow;
    flow << YAML::Flow << node;
    out[path] = flow.c_str();
  }
}

std::vector<std::string> files_in(const fs::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.is_regular_file()) names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

StepView step_view(const fs::path& run, const std::string& id, const nlohmann::ordered_json& record) {
  StepView step;
  step.id = id;
  step.uses = record.value("uses", "");
  step.status = record.value("status", "");
  step.key = record.value("cache_key", "");
  step.error = record.value("error", "");
  step.seconds = record.value("seconds", 0.0);
  const auto metrics = record.value("metrics", nlohmann::ordered_json::object());  // items() must not outlive it
  for (const auto& [name, value] : metrics.items()) {
    step.metrics.emplace_back(name, value.is_number() ? value.get<double>() : std::nan(""));
  }
  step.files = files_in(run / id);
  if (std::find(step.files.begin(), step.files.end(), kScalarsFile) != step.files.end()) {
    const auto file = run / id / kScalarsFile;
    step.scalars = ScalarLog::from_csv(read_text(file), file.string());
  }
  return step;
}

}  // namespace

RunView read_run(const fs::path& dir) {
  const auto metrics_file = dir / "metrics.json";
  if (!fs::exists(metrics_file)) {
    throw Error(fmt::format("{}: not a run folder (it has no metrics.json)", dir.string()));
  }
  RunView run;
  run.dir = dir;
  nlohmann::ordered_json metrics;
  try {
    metrics = nlohmann::ordered_json::parse(read_text(metrics_file));
    run.pipeline = metrics.value("pipeline", "");
    run.outcome = metrics.value("outcome", "");
    run.stopped_at = metrics.value("stopped_at", "");
    const auto steps = metrics.value("steps", nlohmann::ordered_json::object());  // items() must not outlive it
    for (const auto& [id, record] : steps.items()) {
      run.steps.push_back(step_view(dir, id, record));
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{}: unreadable ({})", metrics_file.string(), e.what()));
  }
  run.pipeline_yaml = read_text(dir / "pipeline.yaml");
  try {
    const auto resolved = YAML::Load(run.pipeline_yaml);
    flatten(resolved, "", run.settings);
    // Steps the run never reached, from the resolved pipeline.
    for (auto it = resolved["steps"].begin(); resolved["steps"] && it != resolved["steps"].end(); ++it) {
      const auto id = it->first.Scalar();
      const bool seen = std::any_of(run.steps.begin(), run.steps.end(), [&](const StepView& s) { return s.id == id; });
      if (!seen) run.steps.push_back({id, it->second["uses"].Scalar(), "not run"});
    }
  } catch (const YAML::Exception& e) {
    throw Error(fmt::format("{}: unreadable ({})", (dir / "pipeline.yaml").string(), e.what()));
  }
  return run;
}

}  // namespace facet
