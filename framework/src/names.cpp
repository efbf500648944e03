#include "facet/names.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "facet/errors.hpp"
#include "facet/pubfig.hpp"

namespace facet {

namespace {
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      const bool same = std::tolower(a[i - 1]) == std::tolower(b[j - 1]);
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (same ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

std::string trim(const std::string& s) {
  const auto begin = s.find_first_not_of(" \t");
  if (begin == std::string::npos) return {};
  return s.substr(begin, s.find_last_not_of(" \t") - begin + 1);
}
}  // namespace

std::string nearest(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_distance = std::max<size_t>(2, word.size() / 3) + 1;
  for (const auto& c : candidates) {
    const size_t d = edit_distance(word, c);
    const bool prefix = c.rfind(word, 0) == 0 || word.rfind(c, 0) == 0;
    if (d < best_distance || (prefix && best.empty())) {
      best = c;
      best_distance = d;
    }
  }
  return best;
}

std::vector<int> parse_attribute_request(const std::string& request, const std::vector<std::string>& names) {
  std::vector<int> picked;
  size_t start = 0;
  while (start <= request.size()) {
    const size_t comma = request.find(',', start);
    const auto word = trim(request.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    start = comma == std::string::npos ? request.size() + 1 : comma + 1;
    if (word.empty()) continue;
    const auto it = std::find_if(names.begin(), names.end(), [&](const std::string& n) {
      return n.size() == word.size() && std::equal(n.begin(), n.end(), word.begin(), [](char a, char b) {
               return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
             });
    });
    if (it == names.end()) {
      const auto close = nearest(word, names);
      throw Error(fmt::format("unknown attribute '{}'{} (valid: {})", word,
                              close.empty() ? "" : fmt::format("; did you mean '{}'?", close), fmt::join(names, ", ")));
    }
    const int index = static_cast<int>(it - names.begin());
    if (std::find(picked.begin(), picked.end(), index) == picked.end()) picked.push_back(index);
  }
  if (picked.empty()) throw Error("an attribute request names no attribute (e.g. \"Male, Eyeglasses, Smiling\")");
  // Mutually exclusive groups apply when the names are PubFig's.
  for (size_t i = 0; i < picked.size(); ++i) {
    for (size_t j = i + 1; j < picked.size(); ++j) {
      const int a = pubfig::index_of(names[static_cast<size_t>(picked[i])]);
      const int b = pubfig::index_of(names[static_cast<size_t>(picked[j])]);
      if (a < 0 || b < 0 || pubfig::group_position(a).group != pubfig::group_position(b).group) continue;
      std::vector<std::string> members;
      for (int m : pubfig::groups()[static_cast<size_t>(pubfig::group_position(a).group)]) {
        members.emplace_back(pubfig::kAttributeNames[static_cast<size_t>(m)]);
      }
      throw Error(fmt::format(
          "'{}' and '{}' contradict each other: they belong to one exclusive group ({}); ask for one",
          names[static_cast<size_t>(picked[i])], names[static_cast<size_t>(picked[j])], fmt::join(members, ", ")));
    }
  }
  return picked;
}

}  // namespace facet
