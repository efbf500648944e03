#pragma once

// Pieces of a self-contained HTML page: styles, images (data URIs), tables
// from Markdown (cmark-gfm) and charts (Chart.js, from Debian's
// libjs-chart.js) all inline, so the page reads offline and can be mailed.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace facet::html {

/// A whole page; `charts` holds the data of every chart() placed in `body`.
std::string page(const std::string& title, const std::string& body, const nlohmann::json& charts);

/// A figure showing image file `name` (PNG, JPEG, SVG or GIF by its extension).
std::string image(const std::string& name, const std::string& bytes);
/// Whether a file of this name is shown by image().
bool is_image(const std::string& name);

/// GitHub-flavoured Markdown (tables included) as HTML; raw HTML in it is dropped.
std::string markdown(const std::string& text);

/// A table; cells are HTML already (escape text with html_escape).
std::string table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows);

/// One line of a chart: (x, y) points.
struct Series {
  std::string label;
  std::vector<std::pair<double, double>> points;
};

/// A line chart: its canvas (drawn by the page's script) and, folded below
/// it, the same numbers as a table. Adds its data to `charts`.
std::string chart(nlohmann::json& charts, const std::string& title, const std::string& x_label,
                  const std::vector<Series>& series);

}  // namespace facet::html
