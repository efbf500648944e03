#pragma once

// Names users type: the nearest known one for "did you mean", and attribute
// requests such as "Male, Eyeglasses, Smiling" for the generators.

#include <string>
#include <vector>

#include "facet/export.hpp"

namespace facet {

/// The candidate closest to `word` by edit distance (case-insensitive), or ""
/// when none is close.
FACET_API std::string nearest(const std::string& word, const std::vector<std::string>& candidates);

/// Indices into `names` of a comma-separated request. An unknown name is an
/// error listing the valid names and the nearest one; two attributes of one
/// mutually exclusive PubFig group (Black Hair with Blond Hair) are an error
/// naming the group; an empty request is an error.
FACET_API std::vector<int> parse_attribute_request(const std::string& request, const std::vector<std::string>& names);

}  // namespace facet
