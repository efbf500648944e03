// binarize: real-valued attribute scores to class labels by sign.
#include <cmath>

#include <facet/plugin.hpp>
#include <facet/pubfig.hpp>

namespace {

using facet::Artifact;
using facet::Artifacts;
using facet::ParamSpec;

constexpr std::int64_t kUnknown = -1;  // label value of a masked (unknown) label

/// Sign of a score, or unknown when it is NaN or within the margin.
std::int64_t sign_label(float score, double margin) {
  if (std::isnan(score) || std::fabs(score) < margin) return kUnknown;
  return score > 0 ? 1 : 0;
}

/// Class of one group: 0 when no member is positive, else 1 + the position
/// of the member with the largest score. Unknown when no member is surely
/// positive but one is within the margin (it might be).
std::int64_t group_label(const float* scores, const std::vector<int>& members, double margin) {
  int best = -1;
  bool uncertain = false;
  for (size_t k = 0; k < members.size(); ++k) {
    const float s = scores[members[k]];
    if (std::isnan(s) || std::fabs(s) < margin) {
      uncertain = true;
    } else if (s > 0 && (best < 0 || s > scores[members[static_cast<size_t>(best)]])) {
      best = static_cast<int>(k);
    }
  }
  if (best >= 0) return best + 1;
  return uncertain ? kUnknown : 0;
}

class BinarizeStep final : public facet::Step {
 public:
  facet::StepInfo info() const override {
    return {"binarize",
            "1.1",
            "Attribute scores to labels by sign: 73 binary heads or 42 mutually exclusive group heads",
            "labels",
            {ParamSpec::choice("mode", "binary", {"binary", "grouped"},
                               "binary: one two-class label per attribute; grouped: one label per group of "
                               "mutually exclusive PubFig attributes (class 0 = none of the group)"),
             ParamSpec::real("margin", 0.0, "scores with |score| < margin become unknown (-1, masked in training)")
                 .range(0.0, std::nullopt)},
            {{"attributes", "scores [N, A] float32 with attribute 'attribute_names'"}},
            {{"labels",
              "labels [N, H] int64 (-1 unknown), num_classes [H]; head_names, class_names; "
              "person, image_id and rendered_attributes passed through when present"}}};
  }

  Artifacts run(const Artifacts& inputs, const facet::Params& params, facet::Context& ctx) override {
    const Artifact& in = inputs.at("attributes");
    const auto names = in.attr_strings("attribute_names");
    const auto scores = in.get("scores").to(torch::kFloat32).contiguous();
    if (scores.dim() != 2 || scores.size(1) != static_cast<std::int64_t>(names.size())) {
      throw facet::Error(fmt::format("binarize: scores have shape [{}] but there are {} attribute names",
                                     fmt::join(scores.sizes(), ", "), names.size()));
    }
    const double margin = params.get_float("margin");
    const bool grouped = params.get_string("mode") == "grouped";
    if (grouped) check_pubfig_order(names);

    const Heads heads = make_heads(names, grouped);
    const auto [labels, num_classes] = label(scores, heads.members, grouped, margin);
    const std::int64_t n = labels.size(0), num_heads = labels.size(1);
    const double unknown = n * num_heads > 0 ? (labels == kUnknown).sum().item<double>() / double(n * num_heads) : 0.0;
    ctx.metric("unknown_fraction", unknown);
    ctx.info("{} images, {} heads ({}), {:.2f}% labels unknown", n, num_heads, params.get_string("mode"),
             100 * unknown);

    Artifact result;
    result.set("labels", labels);
    result.set("num_classes", num_classes);
    for (const char* pass : {"person", "image_id"}) {
      if (!in.has(pass)) continue;
      if (auto stored = in.stored(pass)) result.set(pass, stored);
      else result.set(pass, in.get(pass));
    }
    result.set_attr("mode", params.get_string("mode"));
    result.set_attr("head_names", heads.names);
    result.set_attr("class_names", heads.class_names);
    result.set_attr("attribute_names", names);
    if (in.has_attr("rendered_attributes"))
      result.set_attr("rendered_attributes", in.attr_strings("rendered_attributes"));
    return {{"labels", result}};
  }

 private:
  /// The heads: their attribute indices, names and class names.
  struct Heads {
    std::vector<std::vector<int>> members;
    std::vector<std::string> names, class_names;
  };

  /// One head per attribute, or per group of PubFig's mutually exclusive attributes.
  static Heads make_heads(const std::vector<std::string>& names, bool grouped) {
    Heads heads;
    if (grouped) {
      heads.members = facet::pubfig::groups();
    } else {
      for (int a = 0; a < static_cast<int>(names.size()); ++a) heads.members.push_back({a});
    }
    for (const auto& members : heads.members) {
      std::vector<std::string> member_names;
      for (int m : members) member_names.push_back(names[static_cast<size_t>(m)]);
      heads.names.push_back(fmt::format("{}", fmt::join(member_names, " | ")));
      const auto& head = heads.names.back();
      if (grouped && members.size() > 1) {
        heads.class_names.push_back(head + ": none");
        for (const auto& m : member_names) heads.class_names.push_back(head + ": " + m);
      } else {
        heads.class_names.push_back(head + ": no");
        heads.class_names.push_back(head + ": yes");
      }
    }
    return heads;
  }

  /// Labels [N, H] (kUnknown where unsure) and each head's class count [H].
  static std::pair<torch::Tensor, torch::Tensor> label(const torch::Tensor& scores,
                                                       const std::vector<std::vector<int>>& heads, bool grouped,
                                                       double margin) {
    const std::int64_t n = scores.size(0);
    const auto num_heads = static_cast<std::int64_t>(heads.size());
    auto labels = torch::empty({n, num_heads}, torch::kInt64);
    auto num_classes = torch::empty({num_heads}, torch::kInt64);
    const float* s = scores.data_ptr<float>();
    auto* out = labels.data_ptr<std::int64_t>();
    for (std::int64_t h = 0; h < num_heads; ++h) {
      const auto& members = heads[static_cast<size_t>(h)];
      num_classes[h] = grouped && members.size() > 1 ? static_cast<std::int64_t>(members.size()) + 1 : 2;
    }
    for (std::int64_t i = 0; i < n; ++i) {
      const float* row = s + i * scores.size(1);
      for (std::int64_t h = 0; h < num_heads; ++h) {
        const auto& members = heads[static_cast<size_t>(h)];
        out[i * num_heads + h] =
            members.size() == 1 ? sign_label(row[members[0]], margin) : group_label(row, members, margin);
      }
    }
    return {labels, num_classes};
  }

  static void check_pubfig_order(const std::vector<std::string>& names) {
    if (names.size() != facet::pubfig::kAttributeNames.size()) {
      throw facet::Error(
          fmt::format("binarize: mode grouped needs PubFig's {} attributes, the input has {}; "
                      "use mode: binary",
                      facet::pubfig::kNumAttributes, names.size()));
    }
    for (size_t i = 0; i < names.size(); ++i) {
      if (names[i] != facet::pubfig::kAttributeNames[i]) {
        throw facet::Error(
            fmt::format("binarize: mode grouped needs attributes in PubFig order; attribute {} is "
                        "'{}', expected '{}'",
                        i, names[i], facet::pubfig::kAttributeNames[i]));
      }
    }
  }
};

}  // namespace

FACET_REGISTER_STEP(BinarizeStep);
