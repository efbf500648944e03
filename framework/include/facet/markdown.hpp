#pragma once

// Markdown tables written by the runner and by plugins (README.md, reports).

#include <string>
#include <string_view>

namespace facet {

/// `text` as one cell of a Markdown table row: a '|' is escaped ("\|") so
/// that it does not end the cell, line breaks become spaces.
inline std::string markdown_cell(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    if (c == '|') {
      out += "\\|";
    } else if (c == '\n' || c == '\r') {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace facet
