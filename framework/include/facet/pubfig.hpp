#pragma once

// PubFig's 73 attributes in the order of pubfig_attributes.txt, and the 42
// groups of mutually exclusive attributes the final DeepFace report trained
// one softmax head each on.

#include <array>
#include <string_view>
#include <vector>

namespace facet::pubfig {

/// Number of PubFig attributes.
constexpr int kNumAttributes = 73;

/// Attribute names, 0-based index = column in pubfig_attributes.txt.
// clang-format off
inline constexpr std::array<std::string_view, kNumAttributes> kAttributeNames = {
    "Male", "Asian", "White", "Black", "Baby", "Child", "Youth", "Middle Aged", "Senior", "Black Hair",
    "Blond Hair", "Brown Hair", "Bald", "No Eyewear", "Eyeglasses", "Sunglasses", "Mustache", "Smiling",
    "Frowning", "Chubby", "Blurry", "Harsh Lighting", "Flash", "Soft Lighting", "Outdoor", "Curly Hair",
    "Wavy Hair", "Straight Hair", "Receding Hairline", "Bangs", "Sideburns", "Fully Visible Forehead",
    "Partially Visible Forehead", "Obstructed Forehead", "Bushy Eyebrows", "Arched Eyebrows", "Narrow Eyes",
    "Eyes Open", "Big Nose", "Pointy Nose", "Big Lips", "Mouth Closed", "Mouth Slightly Open",
    "Mouth Wide Open", "Teeth Not Visible", "No Beard", "Goatee", "Round Jaw", "Double Chin", "Wearing Hat",
    "Oval Face", "Square Face", "Round Face", "Color Photo", "Posed Photo", "Attractive Man",
    "Attractive Woman", "Indian", "Gray Hair", "Bags Under Eyes", "Heavy Makeup", "Rosy Cheeks", "Shiny Skin",
    "Pale Skin", "5 o' Clock Shadow", "Strong Nose-Mouth Lines", "Wearing Lipstick", "Flushed Face",
    "High Cheekbones", "Brown Eyes", "Wearing Earrings", "Wearing Necktie", "Wearing Necklace"};
// clang-format on

/// The 42 groups of mutually exclusive attributes (indices into kAttributeNames).
inline const std::vector<std::vector<int>>& groups() {
  // clang-format off
  static const std::vector<std::vector<int>> g = {
      {0},  {1, 2, 3, 57}, {4, 5, 6, 7, 8}, {9, 10, 11, 58}, {12, 28}, {13, 14, 15}, {16}, {17, 18}, {19},
      {20}, {21, 22, 23}, {24}, {25, 26, 27}, {29}, {30}, {31, 32, 33}, {34, 35}, {36, 37}, {38, 39}, {40},
      {41, 42, 43, 44}, {45, 46}, {47, 48}, {49}, {50, 51, 52}, {53}, {54}, {55}, {56}, {59}, {60}, {61},
      {62, 63}, {64}, {65}, {66}, {67}, {68}, {69}, {70}, {71}, {72}};
  // clang-format on
  return g;
}

/// Where an attribute sits among the group heads: its group's index and the
/// class that means "this attribute" (k+1 for the k-th member of a group;
/// 1, "yes", for a group of one).
struct GroupPosition {
  int group = -1;
  int cls = -1;
};

inline GroupPosition group_position(int attribute) {
  const auto& g = groups();
  for (size_t i = 0; i < g.size(); ++i) {
    for (size_t k = 0; k < g[i].size(); ++k) {
      if (g[i][k] == attribute) return {static_cast<int>(i), g[i].size() == 1 ? 1 : static_cast<int>(k) + 1};
    }
  }
  return {};
}

/// Index of an attribute by name, or -1.
inline int index_of(std::string_view name) {
  for (int i = 0; i < kNumAttributes; ++i) {
    if (kAttributeNames[static_cast<size_t>(i)] == name) return i;
  }
  return -1;
}

}  // namespace facet::pubfig
