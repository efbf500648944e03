#include "html_page.hpp"

#include <openssl/evp.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <cmark-gfm-core-extensions.h>
#include <cmark-gfm.h>
#include <fmt/format.h>

#include "text_util.hpp"

namespace facet::html {
namespace fs = std::filesystem;

namespace {

constexpr const char* kStyle = R"(
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ccc; } h3 { margin-top: 1.4em; }
table { border-collapse: collapse; margin: 0.6em 0; } th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; }
th { background: #f3f3f3; text-align: left; } td.number { text-align: right; font-variant-numeric: tabular-nums; }
.ok { color: #176b2c; } .failed, .interrupted { color: #b00020; font-weight: bold; } .cached { color: #555; }
.banner { padding: 0.6em 1em; border-radius: 4px; margin: 1em 0; }
.banner.ok { background: #e7f5ea; } .banner.failed, .banner.interrupted { background: #fde8ec; }
td.differs { background: #fff3bf; } .note { color: #666; font-size: 0.9em; }
figure { display: inline-block; margin: 0.5em 1em 0.5em 0; vertical-align: top; }
figure img { max-width: 100%; border: 1px solid #ddd; } figcaption { font-size: 0.85em; color: #555; }
.chart { display: inline-block; margin: 0.5em 1em 0.5em 0; vertical-align: top; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
)";

/// Draws every chart with Chart.js; where it is missing the tables stay the only view.
constexpr const char* kChartScript = R"(
(function () {
  const charts = JSON.parse(document.getElementById('facet-charts').textContent);
  if (typeof Chart === 'undefined') {
    for (const note of document.querySelectorAll('.chart-missing')) note.hidden = false;
    return;
  }
  const colours = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];
  for (const c of charts) {
    new Chart(document.getElementById(c.id), {
      type: 'line',
      data: {datasets: c.series.map((s, i) => ({label: s.label, data: s.points.map(p => ({x: p[0], y: p[1]})),
        borderColor: colours[i % colours.length], backgroundColor: colours[i % colours.length],
        pointRadius: 2, borderWidth: 2, tension: 0}))},
      options: {animation: false, responsive: false, parsing: false,
        plugins: {title: {display: true, text: c.title}, legend: {display: true}},
        scales: {x: {type: 'linear', title: {display: true, text: c.x}},
                 y: {title: {display: true, text: c.title}}}}
    });
  }
})();
)";

std::string base64(const std::string& bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string extension(const std::string& name) {
  const auto dot = name.rfind('.');
  return dot == std::string::npos ? std::string() : name.substr(dot + 1);
}

/// Debian's Chart.js (libjs-chart.js), or FACET_CHARTJS; empty when absent.
const std::string& chart_js() {
  static const std::string code = [] {
    const char* env = std::getenv("FACET_CHARTJS");
    std::ifstream in(env != nullptr ? env : "/usr/share/javascript/chart.js/chart.min.js", std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
  }();
  return code;
}

/// JSON inside a <script> element: "</" must not close it.
std::string script_json(const nlohmann::json& value) {
  std::string text = value.dump();
  for (auto at = text.find("</"); at != std::string::npos; at = text.find("</", at)) text.replace(at, 2, "<\\/");
  return text;
}

std::string number_text(double v) { return std::isfinite(v) ? fmt::format("{:.6g}", v) : std::string("—"); }

}  // namespace

std::string page(const std::string& title, const std::string& body, const nlohmann::json& charts) {
  const auto& js = chart_js();
  return fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>{}</style>\n"
      "</head>\n<body>\n{}\n<script type=\"application/json\" id=\"facet-charts\">{}</script>\n"
      "<script>{}</script>\n<script>{}</script>\n</body>\n</html>\n",
      html_escape(title), kStyle, body, script_json(charts.is_null() ? nlohmann::json::array() : charts), js,
      kChartScript);
}

bool is_image(const std::string& name) {
  const auto ext = extension(name);
  return ext == "png" || ext == "jpg" || ext == "jpeg" || ext == "svg" || ext == "gif";
}

std::string image(const std::string& name, const std::string& bytes) {
  const auto ext = extension(name);
  const std::string type = ext == "svg" ? "svg+xml" : ext == "jpg" ? "jpeg" : ext;
  return fmt::format(
      "<figure><img alt=\"{0}\" src=\"data:image/{1};base64,{2}\"><figcaption>{0}</figcaption></figure>\n",
      html_escape(name), type, base64(bytes));
}

std::string markdown(const std::string& text) {
  cmark_gfm_core_extensions_ensure_registered();
  cmark_parser* parser = cmark_parser_new(CMARK_OPT_DEFAULT);
  if (cmark_syntax_extension* tables = cmark_find_syntax_extension("table")) {
    cmark_parser_attach_syntax_extension(parser, tables);
  }
  cmark_parser_feed(parser, text.data(), text.size());
  cmark_node* document = cmark_parser_finish(parser);
  char* rendered = cmark_render_html(document, CMARK_OPT_DEFAULT, cmark_parser_get_syntax_extensions(parser));
  std::string out = rendered;
  std::free(rendered);
  cmark_node_free(document);
  cmark_parser_free(parser);
  return out;
}

std::string table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
  std::string out = "<table>\n<tr>";
  for (const auto& h : header) out += "<th>" + h + "</th>";
  out += "</tr>\n";
  for (const auto& row : rows) {
    out += "<tr>";
    for (const auto& cell : row) out += cell.rfind("<td", 0) == 0 ? cell : "<td>" + cell + "</td>";
    out += "</tr>\n";
  }
  return out + "</table>\n";
}

std::string chart(nlohmann::json& charts, const std::string& title, const std::string& x_label,
                  const std::vector<Series>& series) {
  if (!charts.is_array()) charts = nlohmann::json::array();
  const std::string id = fmt::format("chart-{}", charts.size() + 1);
  nlohmann::json data = {{"id", id}, {"title", title}, {"x", x_label}, {"series", nlohmann::json::array()}};
  std::vector<std::vector<std::string>> rows;
  for (const auto& s : series) {
    nlohmann::json points = nlohmann::json::array();
    for (const auto& [x, y] : s.points) {
      points.push_back({x, std::isfinite(y) ? nlohmann::json(y) : nlohmann::json()});
      rows.push_back({html_escape(s.label), "<td class=\"number\">" + number_text(x) + "</td>",
                      "<td class=\"number\">" + number_text(y) + "</td>"});
    }
    data["series"].push_back({{"label", s.label}, {"points", points}});
  }
  charts.push_back(data);
  return fmt::format(
      "<div class=\"chart\"><canvas id=\"{}\" width=\"480\" height=\"300\" aria-label=\"{}\"></canvas>\n"
      "<p class=\"chart-missing note\" hidden>Chart.js was not found (Debian package libjs-chart.js, or "
      "FACET_CHARTJS): the numbers are below.</p>\n<details><summary>{} as numbers</summary>\n{}</details></div>\n",
      id, html_escape(title), html_escape(title), table({"series", html_escape(x_label), html_escape(title)}, rows));
}

}  // namespace facet::html
