#include "sweep.hpp"

#include <cmath>
#include <ctime>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <yaml-cpp/yaml.h>

#include "facet/files.hpp"
#include "facet/markdown.hpp"
#include "facet/plot.hpp"
#include "pipeline.hpp"
#include "report.hpp"
#include "text_util.hpp"

namespace facet {
namespace fs = std::filesystem;

namespace {

std::string where(const fs::path& file, const YAML::Node& node) {
  const auto mark = node.Mark();
  return mark.is_null() ? file.string() : fmt::format("{}:{}:{}", file.string(), mark.line + 1, mark.column + 1);
}

/// A YAML value as one-line flow text, for --set.
std::string flow(const YAML::Node& node) {
  if (node.IsScalar()) return node.Scalar();
  YAML::Emitter out;
  out << YAML::Flow << node;
  return out.c_str();
}

std::vector<std::string> strings(const fs::path& file, const YAML::Node& node, const std::string& key,
                                 std::vector<std::string>& errors) {
  std::vector<std::string> out;
  if (!node) return out;
  if (!node.IsSequence()) {
    errors.push_back(fmt::format("{}: error: '{}' must be a list", where(file, node), key));
    return out;
  }
  for (const auto& item : node) out.push_back(flow(item));
  return out;
}

/// Every combination of the varied values, as --set overrides and a label.
/// One variant of a sweep: its --set overrides and its label.
using Variant = std::pair<std::vector<std::string>, std::string>;

std::vector<Variant> combinations(const Sweep& s) {
  std::vector<Variant> out{{{}, ""}};
  for (const auto& [path, values] : s.vary) {
    std::vector<Variant> next;
    for (const auto& [sets, label] : out) {
      for (const auto& v : values) {
        auto more = sets;
        more.push_back(path + "=" + v);
        next.push_back({more, label.empty() ? v : label + " " + v});
      }
    }
    out = std::move(next);
  }
  return out;
}

std::string folder_name(size_t index, const std::string& label) {
  std::string out = fmt::format("{:02}_", index + 1);
  for (char c : label) out += std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' ? c : '_';
  return out;
}

/// Two table rows: each column's mean and its standard deviation (n - 1),
/// blank where a column has too few values; the last cell counts the runs.
std::vector<std::vector<std::string>> mean_and_spread_rows(const std::vector<std::vector<double>>& columns) {
  std::vector<std::vector<std::string>> rows;
  for (const bool spread : {false, true}) {
    std::vector<std::string> row = {spread ? "standard deviation" : "mean"};
    for (const auto& values : columns) {
      if (values.size() < (spread ? 2u : 1u)) {
        row.emplace_back();
        continue;
      }
      double mean = 0, squares = 0;
      for (double v : values) mean += v / static_cast<double>(values.size());
      for (double v : values) squares += (v - mean) * (v - mean);
      row.push_back(fmt::format("{:.4f}", spread ? std::sqrt(squares / static_cast<double>(values.size() - 1)) : mean));
    }
    row.push_back(fmt::format("{} runs", columns.empty() ? 0 : columns.front().size()));
    rows.push_back(std::move(row));
  }
  return rows;
}

/// summary.csv, summary.md and summary.png: the varied values, then the collected metrics.
void write_summary(const fs::path& dir, const Sweep& sweep, const std::vector<Variant>& variants,
                   const std::vector<RunSummary>& results, RunLog& log) {
  std::vector<std::string> header;
  for (const auto& v : sweep.vary) header.push_back(v.first);
  header.insert(header.end(), sweep.collect.begin(), sweep.collect.end());
  header.push_back("status");
  std::string csv = fmt::format("{}\n", fmt::join(header, ","));
  std::string md = fmt::format("# Sweep {} over {}\n\n| {} |\n|", sweep.name, sweep.pipeline.filename().string(),
                               fmt::join(header, " | "));
  for (size_t i = 0; i < header.size(); ++i) md += "---|";
  md += "\n";
  std::string data;
  std::vector<std::vector<double>> columns(sweep.collect.size());  // each metric's values over the runs
  for (size_t i = 0; i < results.size(); ++i) {
    std::vector<std::string> row;
    const auto& sets = variants[i].first;
    for (const auto& s : sets) row.push_back(s.substr(s.find('=') + 1));
    for (size_t c = 0; c < sweep.collect.size(); ++c) {
      const auto& key = sweep.collect[c];
      const auto dot = key.find('.');
      std::string value = "";
      auto step = results[i].metrics.find(key.substr(0, dot));
      if (step != results[i].metrics.end()) {
        auto m = step->second.find(key.substr(dot + 1));
        if (m != step->second.end()) {
          value = fmt::format("{:.4f}", m->second);
          columns[c].push_back(m->second);
        }
      }
      row.push_back(value);
      if (c == 0 && !value.empty()) data += fmt::format("{} \"{}\" {}\n", i, variants[i].second, value);
    }
    row.push_back(results[i].code == kExitOk ? "ok" : fmt::format("failed ({})", results[i].code));
    std::vector<std::string> fields;
    for (const auto& f : row) fields.push_back(csv_field(f));
    csv += fmt::format("{}\n", fmt::join(fields, ","));
    for (auto& cell : row) cell = markdown_cell(cell);
    md += fmt::format("| {} |\n", fmt::join(row, " | "));
  }
  // Over seeds alone, every figure is reported as a mean with its spread.
  if (sweep.vary.size() == 1 && sweep.vary.front().first == "seed") {
    for (const auto& row : mean_and_spread_rows(columns)) {
      std::vector<std::string> fields;
      for (const auto& f : row) fields.push_back(csv_field(f));
      csv += fmt::format("{}\n", fmt::join(fields, ","));
      md += fmt::format("| {} |\n", fmt::join(row, " | "));
    }
  }
  write_file(dir / "summary.csv", csv);
  write_file(dir / "summary.md", md);
  if (!sweep.collect.empty() && !data.empty()) {
    try {
      const std::string script = fmt::format(
          "set title '{}' noenhanced\nset ylabel '{}' noenhanced\nset xlabel '{}' noenhanced\nset grid\n"
          "set xtics noenhanced\nset offsets 0.3, 0.3, 0, 0\nunset key\n"
          "plot 'd.dat' using 1:3:xtic(2) with linespoints pt 7 ps 1.2 lw 2",
          sweep.name, sweep.collect.front(),
          fmt::join(std::vector<std::string>(header.begin(), header.begin() + sweep.vary.size()), ", "));
      write_file(dir / "summary.png", gnuplot_png(script, {{"d.dat", data}}));
    } catch (const std::exception& e) {
      log.write(LogLevel::Warning, "sweep", std::string("no plot: ") + e.what());
    }
  }
}

/// report.html: the variants' runs compared side by side.
void write_sweep_report(const fs::path& dir, const Sweep& sweep, const std::vector<Variant>& variants,
                        const std::vector<RunSummary>& results) {
  std::vector<RunView> runs;
  std::vector<std::string> labels;
  for (size_t i = 0; i < results.size(); ++i) {
    if (!fs::exists(results[i].run_dir / "metrics.json")) continue;
    runs.push_back(read_run(results[i].run_dir));
    labels.push_back(variants[i].second);
  }
  write_file(
      dir / "report.html",
      comparison_html(runs, labels, fmt::format("Sweep {} over {}", sweep.name, sweep.pipeline.filename().string())));
}

}  // namespace

Sweep load_sweep(const fs::path& file) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(file.string());
  } catch (const YAML::BadFile&) {
    throw PipelineError({fmt::format("{}: error: cannot read the sweep file", file.string())});
  } catch (const YAML::Exception& e) {
    throw PipelineError(
        {fmt::format("{}:{}:{}: error: YAML syntax: {}", file.string(), e.mark.line + 1, e.mark.column + 1, e.msg)});
  }
  std::vector<std::string> errors;
  Sweep s;
  s.file = file;
  s.name = file.stem().string();
  const std::vector<std::string> known = {"name", "pipeline", "set", "vary", "collect"};
  if (!root.IsMap())
    throw PipelineError(
        {file.string() + ": error: a sweep is a mapping with keys: " + fmt::format("{}", fmt::join(known, ", "))});
  for (auto it = root.begin(); it != root.end(); ++it) {
    const auto key = it->first.as<std::string>();
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      errors.push_back(fmt::format("{}: error: unknown sweep key '{}'{} (expected: {})", where(file, it->first), key,
                                   did_you_mean(key, known), fmt::join(known, ", ")));
    }
  }
  if (root["name"]) s.name = root["name"].as<std::string>();
  if (!root["pipeline"]) {
    errors.push_back(file.string() + ": error: the sweep names no 'pipeline'");
  } else {
    s.pipeline = file.parent_path() / root["pipeline"].as<std::string>();
    if (!fs::exists(s.pipeline)) {
      errors.push_back(
          fmt::format("{}: error: pipeline {} does not exist", where(file, root["pipeline"]), s.pipeline.string()));
    }
  }
  s.sets = strings(file, root["set"], "set", errors);
  s.collect = strings(file, root["collect"], "collect", errors);
  const auto vary = root["vary"];
  if (!vary || !vary.IsMap() || vary.size() == 0) {
    errors.push_back(fmt::format("{}: error: 'vary' must map at least one --set path to a list of values",
                                 vary ? where(file, vary) : file.string()));
  } else {
    for (auto it = vary.begin(); it != vary.end(); ++it) {
      s.vary.push_back({it->first.as<std::string>(), strings(file, it->second, it->first.as<std::string>(), errors)});
    }
  }
  for (const auto& c : s.collect) {
    if (c.find('.') == std::string::npos)
      errors.push_back(fmt::format("{}: error: collect entry '{}' must be STEP.METRIC", file.string(), c));
  }
  if (!errors.empty()) throw PipelineError(errors);
  return s;
}

int run_sweep(const Sweep& sweep, const std::vector<std::string>& overrides, const RunOptions& options,
              const PluginRegistry& registry, RunLog& log) {
  const auto variants = combinations(sweep);
  // Validate every variant before anything runs.
  std::vector<Pipeline> pipelines;
  for (const auto& [sets, label] : variants) {
    auto all = sweep.sets;
    all.insert(all.end(), overrides.begin(), overrides.end());
    all.insert(all.end(), sets.begin(), sets.end());
    pipelines.push_back(load_pipeline(sweep.pipeline, all, registry));
  }
  if (options.dry_run) {
    for (size_t i = 0; i < variants.size(); ++i) {
      fmt::print("variant {}: {}\n", i + 1, variants[i].second);
      execute(pipelines[i], options, log);
    }
    return kExitOk;
  }
  const auto stamp = fmt::format("{:%Y%m%d-%H%M%S}", fmt::localtime(std::time(nullptr)));
  fs::path dir = options.runs_dir / sweep.name / stamp;
  for (int i = 2; fs::exists(dir); ++i) dir = options.runs_dir / sweep.name / fmt::format("{}-{}", stamp, i);
  fs::create_directories(dir);
  std::vector<RunSummary> results;
  int code = kExitOk;
  for (size_t i = 0; i < variants.size(); ++i) {
    log.write(LogLevel::Info, "sweep", fmt::format("variant {}/{}: {}", i + 1, variants.size(), variants[i].second));
    RunOptions run = options;
    run.run_dir = dir / folder_name(i, variants[i].second);
    RunSummary summary;
    code = execute(pipelines[i], run, log, &summary);
    results.push_back(summary);
    if (code == kExitInterrupted) break;
  }

  write_summary(dir, sweep, variants, results, log);
  write_sweep_report(dir, sweep, variants, results);
  log.write(
      LogLevel::Info, "sweep",
      fmt::format("summary in {}, runs compared in {}", (dir / "summary.md").string(), (dir / "report.html").string()));
  return code;
}

}  // namespace facet
