#include "report.hpp"

#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "facet/files.hpp"
#include "html_page.hpp"
#include "text_util.hpp"

namespace facet {
namespace fs = std::filesystem;

namespace {

constexpr std::uintmax_t kMaxInlineBytes = 8u << 20;  // larger files are listed, not embedded

std::string read_bytes(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string number_cell(double v) {
  return fmt::format("<td class=\"number\">{}</td>", std::isfinite(v) ? fmt::format("{:.6g}", v) : "—");
}

std::string status_cell(const std::string& status) {
  return fmt::format("<td class=\"{}\">{}</td>", html_escape(status), html_escape(status));
}

/// The chart a series belongs to: what it measures, the part after its last '/'.
std::string measure_of(const std::string& series) {
  const auto slash = series.rfind('/');
  return slash == std::string::npos ? series : series.substr(slash + 1);
}

/// A step's curves grouped by measure: measure -> series -> points.
std::map<std::string, std::map<std::string, html::Series>> curves_of(const StepView& step) {
  std::map<std::string, std::map<std::string, html::Series>> out;
  for (const auto& p : step.scalars.points()) {
    auto& series = out[measure_of(p.series)][p.series];
    series.label = p.series;
    series.points.emplace_back(static_cast<double>(p.step), p.value);
  }
  return out;
}

std::string outcome_banner(const RunView& run) {
  if (run.outcome == "ok") return "<p class=\"banner ok\">Finished: every step ran or came from the cache.</p>\n";
  std::string why;
  for (const auto& s : run.steps) {
    if (s.id == run.stopped_at) why = s.error;
  }
  return fmt::format("<p class=\"banner {0}\">{1} at step <a href=\"#step-{2}\">{2}</a>: {3}</p>\n",
                     html_escape(run.outcome), run.outcome == "interrupted" ? "Interrupted" : "Failed",
                     html_escape(run.stopped_at), html_escape(why.empty() ? "see run.log" : why));
}

std::string steps_table(const RunView& run) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& s : run.steps) {
    rows.push_back({fmt::format("<a href=\"#step-{0}\">{0}</a>", html_escape(s.id)), html_escape(s.uses),
                    status_cell(s.status), number_cell(s.seconds),
                    fmt::format("<code>{}</code>", html_escape(s.key.substr(0, 12)))});
  }
  return html::table({"step", "uses", "status", "seconds", "cache key"}, rows);
}

/// A step's files: figures inline, Markdown as tables, the rest listed.
std::string step_files(const fs::path& dir, const StepView& step) {
  std::string figures, tables, others;
  for (const auto& name : step.files) {
    const auto file = dir / name;
    std::error_code ec;
    const auto size = fs::file_size(file, ec);
    if (name == kScalarsFile) continue;
    if (ec || size > kMaxInlineBytes) {
      others += fmt::format("<li>{} ({} bytes, not embedded)</li>", html_escape(name), ec ? 0 : size);
    } else if (html::is_image(name)) {
      figures += html::image(name, read_bytes(file));
    } else if (fs::path(name).extension() == ".md") {
      tables += fmt::format("<div class=\"markdown\" data-file=\"{}\">{}</div>\n", html_escape(name),
                            html::markdown(read_bytes(file)));
    } else {
      others += fmt::format("<li>{}</li>", html_escape(name));
    }
  }
  std::string out = tables;
  if (!figures.empty()) out += "<div class=\"figures\">\n" + figures + "</div>\n";
  if (!others.empty()) out += "<p class=\"note\">Other files in the step's folder:</p><ul>" + others + "</ul>\n";
  return out;
}

std::string step_section(const RunView& run, const StepView& step, nlohmann::json& charts) {
  std::string out = fmt::format("<section class=\"step\" id=\"step-{0}\">\n<h2>{0} <small>({1}, {2})</small></h2>\n",
                                html_escape(step.id), html_escape(step.uses), html_escape(step.status));
  if (!step.error.empty()) out += fmt::format("<p class=\"failed\">{}</p>\n", html_escape(step.error));
  if (!step.metrics.empty()) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& [name, value] : step.metrics) rows.push_back({html_escape(name), number_cell(value)});
    out += "<h3>Metrics</h3>\n" + html::table({"metric", "value"}, rows);
  }
  const auto curves = curves_of(step);
  if (!curves.empty()) {
    out += "<h3>Training curves</h3>\n";
    for (const auto& [measure, series] : curves) {
      std::vector<html::Series> lines;
      for (const auto& [name, s] : series) lines.push_back(s);
      out += html::chart(charts, measure, "step", lines);
    }
  }
  out += step_files(run.dir / step.id, step);
  return out + "</section>\n";
}

/// The settings whose values are not the same in every run.
std::set<std::string> differing_settings(const std::vector<RunView>& runs) {
  std::set<std::string> all, differing;
  for (const auto& r : runs) {
    for (const auto& [key, value] : r.settings) all.insert(key);
  }
  for (const auto& key : all) {
    std::set<std::string> values;
    for (const auto& r : runs) {
      const auto it = r.settings.find(key);
      values.insert(it == r.settings.end() ? std::string("(absent)") : it->second);
    }
    if (values.size() > 1) differing.insert(key);
  }
  return differing;
}

std::string settings_table(const std::vector<RunView>& runs, const std::vector<std::string>& labels,
                           bool only_differing) {
  const auto differing = differing_settings(runs);
  std::set<std::string> keys;
  for (const auto& r : runs) {
    for (const auto& [key, value] : r.settings) {
      if (!only_differing || differing.count(key) != 0) keys.insert(key);
    }
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& key : keys) {
    std::vector<std::string> row{fmt::format("<code>{}</code>", html_escape(key))};
    for (const auto& r : runs) {
      const auto it = r.settings.find(key);
      const auto text = html_escape(it == r.settings.end() ? std::string("(absent)") : it->second);
      row.push_back(differing.count(key) != 0 ? "<td class=\"differs\">" + text + "</td>" : text);
    }
    rows.push_back(row);
  }
  std::vector<std::string> header{"setting"};
  for (const auto& label : labels) header.push_back(html_escape(label));
  return html::table(header, rows);
}

std::string metrics_comparison(const std::vector<RunView>& runs, const std::vector<std::string>& labels) {
  // step.metric -> value per run
  std::map<std::string, std::vector<double>> values;
  for (size_t i = 0; i < runs.size(); ++i) {
    for (const auto& step : runs[i].steps) {
      for (const auto& [name, value] : step.metrics) {
        auto& row = values[step.id + "." + name];
        row.resize(runs.size(), std::nan(""));
        row[i] = value;
      }
    }
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& [key, row] : values) {
    std::vector<std::string> cells{html_escape(key)};
    for (size_t i = 0; i < row.size(); ++i) {
      cells.push_back(number_cell(row[i]));
      if (i > 0) {
        const double delta = row[i] - row[0];
        cells.push_back(fmt::format("<td class=\"number{}\">{}</td>",
                                    std::isfinite(delta) && delta != 0 ? " differs" : "",
                                    std::isfinite(delta) ? fmt::format("{:+.4g}", delta) : "—"));
      }
    }
    rows.push_back(cells);
  }
  std::vector<std::string> header{"metric"};
  for (size_t i = 0; i < labels.size(); ++i) {
    header.push_back(html_escape(labels[i]));
    if (i > 0) header.push_back("Δ " + html_escape(labels[i]) + " − " + html_escape(labels[0]));
  }
  return html::table(header, rows);
}

std::string curves_comparison(const std::vector<RunView>& runs, const std::vector<std::string>& labels,
                              nlohmann::json& charts) {
  // step id -> measure -> lines of every run
  std::map<std::string, std::map<std::string, std::vector<html::Series>>> grouped;
  for (size_t i = 0; i < runs.size(); ++i) {
    for (const auto& step : runs[i].steps) {
      for (auto& [measure, series] : curves_of(step)) {
        for (auto& [name, s] : series) {
          s.label = labels[i] + ": " + name;
          grouped[step.id][measure].push_back(s);
        }
      }
    }
  }
  std::string out;
  for (const auto& [id, measures] : grouped) {
    out += fmt::format("<h3>{}</h3>\n", html_escape(id));
    for (const auto& [measure, lines] : measures) out += html::chart(charts, measure, "step", lines);
  }
  return out;
}

}  // namespace

std::string run_report_html(const RunView& run) {
  nlohmann::json charts = nlohmann::json::array();
  std::string body = fmt::format("<h1>Run of {}</h1>\n<p class=\"note\">{}</p>\n", html_escape(run.pipeline),
                                 html_escape(run.dir.string()));
  body += outcome_banner(run);
  body += "<h2>Steps</h2>\n" + steps_table(run);
  for (const auto& step : run.steps) {
    if (step.status != "not run") body += step_section(run, step, charts);
  }
  body += "<h2>Resolved pipeline</h2>\n<pre>" + html_escape(run.pipeline_yaml) + "</pre>\n";
  return html::page("facet: " + run.pipeline, body, charts);
}

std::string comparison_html(const std::vector<RunView>& runs, const std::vector<std::string>& given_labels,
                            const std::string& title) {
  std::vector<std::string> labels = given_labels;
  for (size_t i = labels.size(); i < runs.size(); ++i) labels.push_back(runs[i].dir.filename().string());
  nlohmann::json charts = nlohmann::json::array();
  std::string body = fmt::format("<h1>{}</h1>\n", html_escape(title));
  std::vector<std::vector<std::string>> rows;
  for (size_t i = 0; i < runs.size(); ++i) {
    rows.push_back({html_escape(labels[i]), html_escape(runs[i].pipeline), status_cell(runs[i].outcome),
                    fmt::format("<code>{}</code>", html_escape(runs[i].dir.string()))});
  }
  body += "<h2>Runs</h2>\n" + html::table({"run", "pipeline", "outcome", "folder"}, rows);
  body += "<h2>Settings that differ</h2>\n" + settings_table(runs, labels, /*only_differing=*/true);
  body += "<details><summary>All settings</summary>\n" + settings_table(runs, labels, false) + "</details>\n";
  body += "<h2>Metrics</h2>\n" + metrics_comparison(runs, labels);
  body += "<h2>Training curves</h2>\n" + curves_comparison(runs, labels, charts);
  return html::page(title, body, charts);
}

void write_run_report(const fs::path& run_dir) {
  write_file(run_dir / "report.html", run_report_html(read_run(run_dir)));
}

}  // namespace facet
