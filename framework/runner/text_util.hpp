#pragma once

#include <string>
#include <vector>

#include "facet/names.hpp"  // nearest

namespace facet {

/// "; did you mean 'x'?" or "" when nothing is close.
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates);
/// `text` as a JSON string literal.
std::string json_quote(const std::string& text);

}  // namespace facet
