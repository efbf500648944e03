#pragma once

#include <string>
#include <vector>

#include "facet/names.hpp"  // nearest

namespace facet {

/// "; did you mean 'x'?" or "" when nothing is close.
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates);
/// SHA-256 of `text`, hex.
std::string sha256_hex(const std::string& text);
/// `s` as one CSV field (quoted when it holds a comma, quote or newline).
std::string csv_field(const std::string& s);
/// `text` safe inside HTML text and attribute values.
std::string html_escape(const std::string& text);

}  // namespace facet
