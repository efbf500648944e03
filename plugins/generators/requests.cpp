#include "requests.hpp"

#include <algorithm>
#include <set>

#include <torch/torch.h>

#include <facet/errors.hpp>
#include <facet/names.hpp>
#include <facet/pubfig.hpp>
#include <facet/row_batches.hpp>

namespace facet::generators {

std::vector<std::vector<int>> parse_requests(const std::vector<std::string>& requests,
                                             const std::vector<std::string>& names) {
  std::vector<std::vector<int>> out;
  for (const auto& r : requests) {
    try {
      out.push_back(parse_attribute_request(r, names));
    } catch (const Error& e) {
      throw Error(fmt::format("request \"{}\": {}", r, e.what()));
    }
  }
  return out;
}

std::vector<std::string> held_out_requests(const Artifact& attributes, const torch::Tensor& rows_in, std::int64_t count,
                                           std::int64_t per_request, std::uint64_t seed) {
  const auto names = attributes.attr_strings("attribute_names");
  std::vector<bool> allowed(names.size(), true);
  if (attributes.has_attr("rendered_attributes")) {
    const auto rendered = attributes.attr_strings("rendered_attributes");
    for (size_t a = 0; a < names.size(); ++a)
      allowed[a] = std::find(rendered.begin(), rendered.end(), names[a]) != rendered.end();
  }
  const auto scores = attributes.get("scores").to(torch::kFloat32).contiguous();
  const auto score = scores.accessor<float, 2>();
  const auto rows = rows_in.to(torch::kInt64).contiguous();
  if (rows.numel() == 0) throw Error("no real faces to draw held-out requests from (the subset is empty)");
  std::mt19937_64 rng(seed);
  std::set<std::string> seen;
  std::vector<std::string> out;
  for (std::int64_t tries = 0; static_cast<std::int64_t>(out.size()) < count; ++tries) {
    if (tries > 100 * count + 1000) {
      throw Error(fmt::format("only {} distinct held-out requests of {} could be drawn from {} real faces", out.size(),
                              count, rows.numel()));
    }
    const auto row =
        rows[static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(rows.numel()))].item<std::int64_t>();
    std::vector<int> present;
    for (size_t a = 0; a < names.size(); ++a) {
      if (allowed[a] && score[row][static_cast<std::int64_t>(a)] > 0) present.push_back(static_cast<int>(a));
    }
    std::shuffle(present.begin(), present.end(), rng);
    std::set<int> groups_used;
    std::vector<int> picked;
    for (int a : present) {
      if (static_cast<std::int64_t>(picked.size()) == per_request) break;
      const int p = pubfig::index_of(names[static_cast<size_t>(a)]);
      const int group = p < 0 ? -1 - a : pubfig::group_position(p).group;
      if (!groups_used.insert(group).second) continue;
      picked.push_back(a);
    }
    if (picked.empty()) continue;
    std::sort(picked.begin(), picked.end());
    std::string text;
    for (int a : picked) text += (text.empty() ? "" : ", ") + names[static_cast<size_t>(a)];
    if (seen.insert(text).second) out.push_back(text);
  }
  return out;
}

namespace {

/// Indices (in `names`) of the attributes that exclude `a`: the others of its PubFig group.
std::vector<std::int64_t> exclusive_siblings(int a, const std::vector<std::string>& names) {
  std::vector<std::int64_t> out;
  const int p = pubfig::index_of(names[static_cast<size_t>(a)]);
  if (p < 0) return out;
  for (int sibling : pubfig::groups()[static_cast<size_t>(pubfig::group_position(p).group)]) {
    const auto it = std::find(names.begin(), names.end(), pubfig::kAttributeNames[static_cast<size_t>(sibling)]);
    if (it != names.end() && it - names.begin() != a) out.push_back(it - names.begin());
  }
  return out;
}

}  // namespace

std::vector<std::int64_t> closest_rows(const torch::Tensor& signs, const std::vector<int>& attributes,
                                       const std::vector<std::string>& attribute_names) {
  const auto all = signs.to(torch::kInt64);
  auto agreement = torch::zeros({signs.size(0)}, torch::kInt64);
  for (int a : attributes) {
    agreement += all.select(1, a).gt(0).to(torch::kInt64);
    for (auto sibling : exclusive_siblings(a, attribute_names))
      agreement -= all.select(1, sibling).gt(0).to(torch::kInt64);
  }
  return facet::to_rows(torch::nonzero(agreement == agreement.max()).flatten());
}

torch::Tensor pick_closest(const torch::Tensor& signs, const std::vector<int>& attributes,
                           const std::vector<std::string>& attribute_names, std::int64_t count, std::mt19937_64& rng) {
  const auto closest = closest_rows(signs, attributes, attribute_names);
  std::uniform_int_distribution<size_t> pick(0, closest.size() - 1);
  std::vector<std::int64_t> picked;
  for (std::int64_t i = 0; i < count; ++i) picked.push_back(closest[pick(rng)]);
  return torch::tensor(picked, torch::kInt64);
}

torch::Tensor ConditionModel::request(const std::vector<int>& attributes, std::int64_t count,
                                      std::mt19937_64& rng) const {
  if (mode == "none") return {};
  // Every request starts from the training faces that already have the most
  // of it, and changes only what they lack.
  const auto rows = pick_closest(base_signs, attributes, attribute_names, count, rng);
  const auto signs = base_signs.index_select(0, rows).to(torch::kFloat32);
  if (mode == "attributes") {
    auto c = signs.clone();
    for (int a : attributes) {
      for (auto sibling : exclusive_siblings(a, attribute_names)) c.select(1, sibling).fill_(-1.0f);
    }
    for (int a : attributes) c.select(1, a).fill_(static_cast<float>(1.0 + 2.0 * emphasis));
    return c;
  }
  // features: a face without a requested attribute moves by the difference
  // between the means of the faces with and without it; one with an
  // excluded sibling (Blond Hair, when Black Hair is asked for) moves back
  // by that sibling's difference.
  auto c = base_features.index_select(0, rows).clone();
  auto direction = [&](std::int64_t a) { return (positive_mean[a] - negative_mean[a]).unsqueeze(0); };  // [1, W]
  auto shift = [&](std::int64_t a, const torch::Tensor& faces, double sign) {
    c += sign * faces.to(torch::kFloat32).unsqueeze(1) * direction(a);
  };
  for (int a : attributes) {
    shift(a, signs.select(1, a) <= 0, 1.0);
    for (auto sibling : exclusive_siblings(a, attribute_names)) shift(sibling, signs.select(1, sibling) > 0, -1.0);
    c += emphasis * direction(a);
  }
  return c;
}

std::int64_t ConditionModel::width() const {
  if (mode == "features") return positive_mean.size(1);
  if (mode == "attributes") return static_cast<std::int64_t>(attribute_names.size());
  return 0;
}

void ConditionModel::save(Artifact& model) const {
  model.set_attr("condition", mode);
  model.set_attr("attribute_names", attribute_names);
  model.set_attr("condition.emphasis", emphasis);
  if (mode == "features") {
    model.set("condition.positive_mean", positive_mean);
    model.set("condition.negative_mean", negative_mean);
    model.set("condition.base_features", base_features);
  }
  if (mode != "none") model.set("condition.base_signs", base_signs);
}

ConditionModel ConditionModel::load(const Artifact& model) {
  ConditionModel m;
  m.mode = model.attr_string("condition");
  m.attribute_names = model.attr_strings("attribute_names");
  if (model.has_attr("condition.emphasis")) m.emphasis = model.attr_float("condition.emphasis");
  if ((m.mode == "features" || m.mode == "attributes") && !model.has("condition.base_signs")) {
    throw Error(
        "this generator model was made before requests started from kept training faces (it has no "
        "condition.base_signs): train it again, e.g. runner PIPELINE --rerun generator");
  }
  if (m.mode == "features") {
    m.positive_mean = model.get("condition.positive_mean").to(torch::kFloat32);
    m.negative_mean = model.get("condition.negative_mean").to(torch::kFloat32);
    m.base_features = model.get("condition.base_features").to(torch::kFloat32);
  }
  if (m.mode == "features" || m.mode == "attributes") {
    m.base_signs = model.get("condition.base_signs");
  } else if (m.mode != "none") {
    throw Error(fmt::format("the model's condition '{}' is none of features, attributes, none", m.mode));
  }
  return m;
}

torch::Tensor attribute_signs(const Artifact& attributes) {
  const auto scores = attributes.get("scores").to(torch::kFloat32);
  return torch::where(scores.isnan(), torch::zeros_like(scores), scores.sign());
}

}  // namespace facet::generators
