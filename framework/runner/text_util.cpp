#include "text_util.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace facet {

std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates) {
  const auto match = nearest(word, candidates);
  return match.empty() ? std::string() : fmt::format("; did you mean '{}'?", match);
}

std::string json_quote(const std::string& text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) out += fmt::format("\\u{:04x}", c);
        else out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

}  // namespace facet
