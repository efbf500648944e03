// evaluate_generation: the trained attribute classifier judges generated
// faces: does it find the requested attributes, how far are the faces from
// real ones in its fc7 space (Frechet distance, beside two baselines), and
// how diverse are the faces drawn for one request.
#include <map>
#include <numeric>
#include <random>
#include <set>

#include <fmt/ranges.h>

#include <facet/markdown.hpp>
#include <facet/plugin.hpp>
#include <facet/pubfig.hpp>

#include "attribute_heads.hpp"
#include "attribute_net.hpp"
#include "batches.hpp"
#include "generation_metrics.hpp"

namespace vggface = facet::vggface;

namespace {

using facet::Artifact;
using facet::Artifacts;
using facet::ParamSpec;

class EvaluateGenerationStep final : public facet::Step {
 public:
  facet::StepInfo info() const override {
    return {"evaluate_generation",
            "1.2",
            "Judges generated faces with the attribute classifier: requested-attribute accuracy, Frechet distance, "
            "diversity",
            "evaluation",
            {ParamSpec::choice("subset", "test", {"train", "val", "test", "all"}, "real faces to compare with"),
             ParamSpec::integer("real_count", 2000, "real faces used at most (evenly spaced)").range(2, 10'000'000)},
            {{"samples", "a generator's samples (images, request, requested; attribute_names, requests)"},
             {"classifier", "a vggface model (the trained attribute classifier)"},
             {"images", "the real faces (the dataset's images)"},
             {"split", "which real faces are in `subset`", true},
             {"attributes", "the dataset's attributes, for the rendered-attribute mean of synthfaces", true}},
            {{"report", "per requested attribute: requested [A], hits [A]; attribute_names"}}};
  }

  Artifacts run(const Artifacts& inputs, const facet::Params& params, facet::Context& ctx) override {
    const Artifact& samples = inputs.at("samples");
    auto net = vggface::load_attribute_net(inputs.at("classifier"), "the 'classifier' input");
    const auto num_classes = net->heads->options().num_classes();
    const auto& classifier = inputs.at("classifier");
    vggface::Preprocessing prep{classifier.attr_string("preprocessing"), net->backbone->options().input_size(), false};
    std::mt19937_64 rng(ctx.seed());
    torch::manual_seed(ctx.seed() & 0x7fffffffffffffffULL);  // the noise baseline: same pipeline, same numbers
    torch::NoGradGuard no_grad;
    auto judge = [&](const torch::Tensor& images) {  // uint8 [B, 3, s, s] -> (fc7, classes)
      std::vector<torch::Tensor> features, classes;
      for (std::int64_t begin = 0; begin < images.size(0); begin += 256) {
        const auto x = vggface::preprocess(images.slice(0, begin, std::min(images.size(0), begin + 256)), prep, rng);
        const auto fc7 = net->backbone->forward(x, "fc7");
        features.push_back(fc7);
        classes.push_back(vggface::predict_classes(net->heads->forward(fc7), num_classes));
      }
      return std::make_pair(torch::cat(features), torch::cat(classes));
    };

    // (a) Does the classifier find what was asked for?
    const auto generated = samples.get("images");
    const std::int64_t size = generated.size(2);
    const auto [gen_fc7, gen_classes] = judge(generated);
    const auto names = samples.attr_strings("attribute_names");
    const auto request = samples.get("request").contiguous();
    const auto requested = samples.get("requested").contiguous();
    std::vector<std::int64_t> asked(names.size(), 0), found(names.size(), 0);
    for (std::int64_t i = 0; i < generated.size(0); ++i) {
      const auto r = request[i].item<std::int64_t>();
      for (size_t a = 0; a < names.size(); ++a) {
        if (requested[r][static_cast<std::int64_t>(a)].item<std::int64_t>() == 0) continue;
        const int p = facet::pubfig::index_of(names[a]);
        if (p < 0) throw facet::Error(fmt::format("'{}' is not a PubFig attribute the classifier knows", names[a]));
        const auto hc = vggface::head_class_of(p, static_cast<std::int64_t>(num_classes.size()));
        ++asked[a];
        found[a] += gen_classes[i][hc.head].item<std::int64_t>() == hc.cls ? 1 : 0;
      }
    }
    std::set<std::string> rendered;
    if (inputs.count("attributes") != 0 && inputs.at("attributes").has_attr("rendered_attributes")) {
      for (const auto& n : inputs.at("attributes").attr_strings("rendered_attributes")) rendered.insert(n);
    }
    // The ceiling: real faces of the subset that have the attribute, seen at
    // the generated size, judged the same way (a generator cannot be found
    // to draw what the classifier misses on real faces of that size).
    std::vector<double> ceiling(names.size(), -1.0);
    if (inputs.count("attributes") != 0) {
      const auto scores = inputs.at("attributes").get("scores").to(torch::kFloat32).contiguous();
      const auto score = scores.accessor<float, 2>();
      const auto subset_rows = subset_row_list(inputs, params);
      for (size_t a = 0; a < names.size(); ++a) {
        if (asked[a] == 0) continue;
        std::vector<std::int64_t> with;
        for (auto row : subset_rows) {
          if (score[row][static_cast<std::int64_t>(a)] > 0) with.push_back(row);
        }
        if (with.empty()) continue;
        const auto classes = judge(resized_faces(inputs.at("images"), evenly_spaced(with, kCeilingFaces), size)).second;
        const auto hc =
            vggface::head_class_of(facet::pubfig::index_of(names[a]), static_cast<std::int64_t>(num_classes.size()));
        ceiling[a] = classes.select(1, hc.head).eq(hc.cls).to(torch::kFloat64).mean().item<double>();
      }
    }
    // A requested attribute the classifier misses in most real faces that
    // have it tells nothing about the generator: say so rather than average it in silently.
    std::vector<std::string> blind;
    for (size_t a = 0; a < names.size(); ++a) {
      if (ceiling[a] >= 0 && ceiling[a] < kBlindCeiling) blind.push_back(names[a]);
    }
    if (inputs.count("attributes") != 0) ctx.metric("blind_requested", static_cast<double>(blind.size()));
    if (!blind.empty()) {
      ctx.warn(
          "the classifier finds {} in under half of the real {}-px faces that have them, so its figures for them say "
          "little about the generator; judge with a classifier whose heads for them learned (see its training "
          "log: heads that fell back to their majority class are listed there)",
          fmt::join(blind, ", "), size);
    }
    Means all, rendered_only;
    std::string table =
        "| requested attribute | faces | classifier finds it | in real faces with it |\n|---|---:|---:|---:|\n";
    for (size_t a = 0; a < names.size(); ++a) {
      if (asked[a] == 0) continue;
      const double acc = static_cast<double>(found[a]) / static_cast<double>(asked[a]);
      table += fmt::format("| {} | {} | {:.3f} | {} |\n", facet::markdown_cell(names[a]), asked[a], acc,
                           ceiling[a] < 0 ? std::string("-") : fmt::format("{:.3f}", ceiling[a]));
      all.add(acc, ceiling[a]);
      if (rendered.count(names[a]) != 0) rendered_only.add(acc, ceiling[a]);
    }
    const double requested_accuracy = all.accuracy();
    ctx.metric("requested_accuracy", requested_accuracy);
    if (all.ceilings > 0) ctx.metric("real_requested_accuracy", all.ceiling());
    if (rendered_only.count > 0) ctx.metric("rendered_requested_accuracy", rendered_only.accuracy());
    if (rendered_only.ceilings > 0) ctx.metric("rendered_real_requested_accuracy", rendered_only.ceiling());

    // (b) Frechet distance to real faces, seen at the generator's size, beside two baselines.
    const auto real = real_faces(inputs, params, size);
    const auto real_fc7 = judge(real).first;
    const auto mean_face =
        real.to(torch::kFloat32).mean(0, true).round().to(torch::kUInt8).repeat({generated.size(0), 1, 1, 1});
    const auto noise = torch::randint(0, 256, generated.sizes(), torch::kUInt8);
    const double fd = vggface::frechet_distance(real_fc7, gen_fc7);
    const double fd_mean = vggface::frechet_distance(real_fc7, judge(mean_face).first);
    const double fd_noise = vggface::frechet_distance(real_fc7, judge(noise).first);
    ctx.metric("frechet", fd);
    ctx.metric("frechet_mean_face", fd_mean);
    ctx.metric("frechet_noise", fd_noise);

    // (c) Diversity: mean pairwise fc7 distance among the faces of one request.
    double diversity = 0;
    const auto requests = requested.size(0);
    for (std::int64_t r = 0; r < requests; ++r) {
      diversity += vggface::mean_pairwise_distance(gen_fc7.index({request == r}));
    }
    diversity /= static_cast<double>(std::max<std::int64_t>(1, requests));
    ctx.metric("diversity_fc7", diversity);

    ctx.info(
        "requested attributes found in {:.1f}% of faces; Frechet {:.2f} (mean face {:.2f}, noise {:.2f}); "
        "diversity {:.3f}",
        100 * requested_accuracy, fd, fd_mean, fd_noise, diversity);
    std::string md = fmt::format("# Generated faces judged by the classifier ({} faces, {} requests)\n\n",
                                 generated.size(0), requests);
    md +=
        fmt::format("| measure | value |\n|---|---:|\n| requested-attribute accuracy | {:.3f} |\n", requested_accuracy);
    if (rendered_only.count > 0)
      md += fmt::format("| ... over rendered attributes | {:.3f} |\n", rendered_only.accuracy());
    if (all.ceilings > 0) {
      md += fmt::format("| the same on real faces with each attribute (the ceiling) | {:.3f} |\n", all.ceiling());
    }
    if (rendered_only.ceilings > 0)
      md += fmt::format("| ... over rendered attributes | {:.3f} |\n", rendered_only.ceiling());
    md += fmt::format(
        "| Frechet distance (fc7), generated | {:.2f} |\n| Frechet distance, the mean real face | {:.2f} |\n"
        "| Frechet distance, uniform noise | {:.2f} |\n| diversity (mean pairwise fc7 distance per request) | {:.3f} "
        "|\n\n",
        fd, fd_mean, fd_noise, diversity);
    if (!blind.empty()) {
      table += fmt::format(
          "\nThe classifier misses {} in most real faces that have them: those rows say little about "
          "the generator.\n",
          fmt::join(blind, ", "));
    }
    ctx.save_file("generation.md", md + table);

    Artifact report;
    report.set("requested", torch::tensor(asked, torch::kInt64));
    report.set("hits", torch::tensor(found, torch::kInt64));
    report.set_attr("attribute_names", names);
    return {{"report", report}};
  }

 private:
  static constexpr std::int64_t kCeilingFaces = 200;  // real faces judged per requested attribute
  static constexpr double kBlindCeiling = 0.5;        // a ceiling below this: the classifier cannot judge the attribute

  /// Mean requested-attribute accuracy and, where known, the real-face ceiling.
  struct Means {
    double sum = 0, ceiling_sum = 0;
    int count = 0, ceilings = 0;
    void add(double accuracy, double ceiling_or_negative) {
      sum += accuracy;
      ++count;
      if (ceiling_or_negative >= 0) {
        ceiling_sum += ceiling_or_negative;
        ++ceilings;
      }
    }
    double accuracy() const { return count > 0 ? sum / count : 0.0; }
    double ceiling() const { return ceilings > 0 ? ceiling_sum / ceilings : 0.0; }
  };

  static std::vector<std::int64_t> subset_row_list(const Artifacts& inputs, const facet::Params& params) {
    const std::string subset = params.get_string("subset");
    if (subset != "all" && inputs.count("split") != 0) return vggface::to_rows(inputs.at("split").get(subset));
    std::vector<std::int64_t> rows(static_cast<size_t>(inputs.at("images").num_rows("images")));
    std::iota(rows.begin(), rows.end(), 0);
    return rows;
  }

  static std::vector<std::int64_t> evenly_spaced(const std::vector<std::int64_t>& rows, std::int64_t want) {
    want = std::min<std::int64_t>(want, static_cast<std::int64_t>(rows.size()));
    std::vector<std::int64_t> picked;
    for (std::int64_t k = 0; k < want; ++k)
      picked.push_back(rows[static_cast<size_t>(k * static_cast<std::int64_t>(rows.size()) / want)]);
    return picked;
  }

  /// Images of `rows` resized to `size`, uint8.
  static torch::Tensor resized_faces(const Artifact& images, const std::vector<std::int64_t>& rows, std::int64_t size) {
    std::vector<torch::Tensor> picked;
    for (auto row : rows) picked.push_back(images.rows("images", row, row + 1));
    auto x = torch::cat(picked).to(torch::kFloat32);
    if (x.size(2) != size) {
      x = torch::nn::functional::interpolate(x, torch::nn::functional::InterpolateFuncOptions()
                                                    .size(std::vector<std::int64_t>{size, size})
                                                    .mode(torch::kArea));
    }
    return x.round().clamp(0, 255).to(torch::kUInt8);
  }

  /// Real faces of the subset, evenly spaced, resized to the generated size.
  static torch::Tensor real_faces(const Artifacts& inputs, const facet::Params& params, std::int64_t size) {
    const auto rows = subset_row_list(inputs, params);
    if (rows.size() < 2) {
      throw facet::Error(fmt::format("the {} subset has {} real faces; at least 2 are needed",
                                     params.get_string("subset"), rows.size()));
    }
    return resized_faces(inputs.at("images"), evenly_spaced(rows, params.get_int("real_count")), size);
  }
};

}  // namespace

FACET_REGISTER_STEP(EvaluateGenerationStep);
