// embed2d: 2-D maps (PCA, t-SNE) of features, coloured by attributes, with a
// separation score per attribute.
#include <algorithm>
#include <random>

#include <facet/markdown.hpp>
#include <facet/plot.hpp>
#include <facet/plugin.hpp>
#include <facet/pubfig.hpp>

#include "separation.hpp"
#include "tsne.hpp"

namespace embed2d = facet::embed2d;

namespace {

using facet::Artifact;
using facet::Artifacts;
using facet::ParamSpec;

/// "Gray Hair" -> "gray_hair", for file and metric names.
std::string slug(const std::string& name) {
  std::string out;
  for (char c : name) {
    if (std::isalnum(static_cast<unsigned char>(c)))
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    else if (!out.empty() && out.back() != '_') out += '_';
  }
  while (!out.empty() && out.back() == '_') out.pop_back();
  return out;
}

/// The yes/no label of one attribute from binarize's labels (binary or grouped).
torch::Tensor attribute_labels(const Artifact& labels, const std::string& attribute) {
  const auto& names = labels.attr_strings("attribute_names");
  const auto it = std::find(names.begin(), names.end(), attribute);
  if (it == names.end()) {
    throw facet::Error(
        fmt::format("embed2d: no attribute '{}' in the labels (attributes: {})", attribute, fmt::join(names, ", ")));
  }
  const auto index = static_cast<int>(it - names.begin());
  const auto all = labels.get("labels");
  if (labels.attr_string("mode") != "grouped") return all.select(1, index);
  const auto position = facet::pubfig::group_position(index);
  if (position.group >= 0) {
    const auto column = all.select(1, position.group);
    return torch::where(column < 0, column, (column == position.cls).to(torch::kInt64));
  }
  throw facet::Error("embed2d: attribute " + attribute + " is in no PubFig group");
}

/// Rows of `tensor` at sorted `rows`, read block by block (bounded memory).
torch::Tensor gather_rows(const Artifact& a, const std::string& tensor, const std::vector<std::int64_t>& rows) {
  constexpr std::int64_t kBlock = 4096;  // stored rows read at once
  std::vector<torch::Tensor> parts;
  size_t m = 0;
  while (m < rows.size()) {
    const auto start = rows[m] / kBlock * kBlock;
    const auto end = std::min(start + kBlock, a.num_rows(tensor));
    std::vector<std::int64_t> local;
    for (; m < rows.size() && rows[m] < end; ++m) local.push_back(rows[m] - start);
    parts.push_back(a.rows(tensor, start, end).index_select(0, torch::tensor(local, torch::kInt64)));
  }
  return torch::cat(parts).to(torch::kFloat32);
}

std::string scatter_png(const torch::Tensor& xy, const torch::Tensor& label, const std::string& attribute,
                        const std::string& title) {
  std::string negative, positive, unknown;
  for (std::int64_t i = 0; i < xy.size(0); ++i) {
    const auto line = fmt::format("{} {}\n", xy[i][0].item<float>(), xy[i][1].item<float>());
    const auto l = label[i].item<std::int64_t>();
    (l == 1 ? positive : l == 0 ? negative : unknown) += line;
  }
  const std::string script = fmt::format(
      "set title '{}' noenhanced\nset key outside right top noenhanced\nunset xtics\nunset ytics\n"
      "plot 'negative.dat' with points pt 7 ps 0.45 lc rgb '#9aa5b1' title 'not {}', "
      "'positive.dat' with points pt 7 ps 0.55 lc rgb '#d1495b' title '{}'",
      title, attribute, attribute);
  return facet::gnuplot_png(script,
                            {{"negative.dat", negative + "nan nan\n"}, {"positive.dat", positive + "nan nan\n"}});
}

class Embed2dStep final : public facet::Step {
 public:
  facet::StepInfo info() const override {
    return {"embed2d",
            "1.0",
            "2-D maps of features (PCA and Barnes-Hut t-SNE) coloured by attributes, with kNN separation scores",
            "analysis",
            {ParamSpec::text_list("attributes", {"Gray Hair", "Sunglasses"}, "attributes to colour the maps by"),
             ParamSpec::choice("subset", "test", {"train", "val", "test", "all"}, "rows to embed"),
             ParamSpec::integer("max_points", 3000, "at most this many rows, drawn at random").range(10, 1'000'000),
             ParamSpec::real("perplexity", 30.0, "t-SNE perplexity").range(2.0, 100.0),
             ParamSpec::integer("iterations", 1000, "t-SNE iterations").range(50, 100000),
             ParamSpec::real("theta", 0.5, "Barnes-Hut accuracy (0 = exact)").range(0.0, 1.5),
             ParamSpec::integer("pca_dims", 50, "PCA dimensions fed to t-SNE").range(2, 4096),
             ParamSpec::integer("k", 11, "neighbours in the kNN separation score").range(1, 1000)},
            {{"features", "features [N, D] (from extract)"},
             {"labels", "labels [N, H] with attribute_names and mode (from binarize)"},
             {"split", "row indices per subset (from split)", /*optional=*/true}},
            {{"embedding",
              "rows [M], pca [M, 2], tsne [M, 2]; per attribute: separation in t-SNE, PCA and full "
              "feature space, positive rate"}}};
  }

  Artifacts run(const Artifacts& inputs, const facet::Params& params, facet::Context& ctx) override {
    const Artifact& features = inputs.at("features");
    const auto rows = chosen_rows(inputs, params, ctx);
    const auto index = torch::tensor(rows, torch::kInt64);
    Embedded e;
    e.features = gather_rows(features, "features", rows);
    e.layer = features.has_attr("layer") ? features.attr_string("layer") : "features";
    embed(e, params, ctx);

    const auto& attributes = params.get_string_list("attributes");
    const auto k = params.get_int("k");
    Scores scores;
    scores.table = fmt::format(
        "# Feature maps ({} {} rows of {}-d features)\n\nkNN separation (k = {}): leave-one-out balanced accuracy of "
        "the attribute from its nearest neighbours; 0.5 is chance.\n\n| attribute | positive | t-SNE 2-D | PCA 2-D "
        "| full features |\n|---|---:|---:|---:|---:|\n",
        rows.size(), params.get_string("subset"), e.features.size(1), k);
    for (const auto& attribute : attributes) {
      score_attribute(attribute, attribute_labels(inputs.at("labels"), attribute).index_select(0, index), e, k, scores,
                      ctx);
    }
    ctx.save_file("separation.md", scores.table);

    Artifact out;
    out.set("rows", index);
    out.set("pca", e.pca2);
    out.set("tsne", e.tsne);
    out.set("separation_tsne", torch::tensor(scores.tsne, torch::kFloat64));
    out.set("separation_pca", torch::tensor(scores.pca, torch::kFloat64));
    out.set("separation_full", torch::tensor(scores.full, torch::kFloat64));
    out.set("positive_rate", torch::tensor(scores.positive_rate, torch::kFloat64));
    out.set_attr("attributes", attributes);
    return {{"embedding", out}};
  }

 private:
  /// The rows embedded, in both maps and in the full feature space.
  struct Embedded {
    torch::Tensor features, pca2, tsne;
    std::string layer;  ///< for the maps' titles
  };

  /// Per attribute, in the order asked: separations, positive rate, and the report's table.
  struct Scores {
    std::vector<double> tsne, pca, full, positive_rate;
    std::string table;
  };

  /// The subset's rows, at most max_points of them drawn at random, sorted.
  static std::vector<std::int64_t> chosen_rows(const Artifacts& inputs, const facet::Params& params,
                                               facet::Context& ctx) {
    const auto subset = params.get_string("subset");
    torch::Tensor candidates;
    if (subset == "all") {
      candidates = torch::arange(inputs.at("features").num_rows("features"), torch::kInt64);
    } else {
      if (inputs.count("split") == 0) throw facet::Error("embed2d: subset " + subset + " needs the 'split' input");
      candidates = inputs.at("split").get(subset);
    }
    std::vector<std::int64_t> rows(candidates.data_ptr<std::int64_t>(),
                                   candidates.data_ptr<std::int64_t>() + candidates.numel());
    std::mt19937_64 rng(ctx.seed());
    std::shuffle(rows.begin(), rows.end(), rng);
    rows.resize(std::min<size_t>(rows.size(), static_cast<size_t>(params.get_int("max_points"))));
    std::sort(rows.begin(), rows.end());
    return rows;
  }

  /// PCA (its first two components are the PCA map) and t-SNE of the PCA-reduced features.
  static void embed(Embedded& e, const facet::Params& params, facet::Context& ctx) {
    const auto reduced = embed2d::pca(e.features, params.get_int("pca_dims"));
    e.pca2 = reduced.slice(1, 0, 2).contiguous();
    embed2d::TsneOptions options;
    options.perplexity = params.get_float("perplexity");
    options.iterations = params.get_int("iterations");
    options.theta = params.get_float("theta");
    options.seed = ctx.seed();
    auto progress = ctx.progress("t-SNE", options.iterations, "iterations");
    e.tsne = embed2d::tsne(reduced, options, progress.get());
  }

  /// One attribute (`y`: 1, 0 or -1 unknown per row): its separation in each
  /// space, metrics, log line, table row and both maps.
  static void score_attribute(const std::string& attribute, const torch::Tensor& y, const Embedded& e, std::int64_t k,
                              Scores& scores, facet::Context& ctx) {
    const auto known = y >= 0;
    scores.positive_rate.push_back((y == 1).sum().item<double>() / std::max<double>(1.0, known.sum().item<double>()));
    scores.tsne.push_back(embed2d::knn_separation(e.tsne, y, k));
    scores.pca.push_back(embed2d::knn_separation(e.pca2, y, k));
    scores.full.push_back(embed2d::knn_separation(e.features, y, k));
    const auto name = slug(attribute);
    ctx.metric(name + "_separation_tsne", scores.tsne.back());
    ctx.metric(name + "_separation_full", scores.full.back());
    scores.table += fmt::format("| {} | {:.3f} | {:.3f} | {:.3f} | {:.3f} |\n", facet::markdown_cell(attribute),
                                scores.positive_rate.back(), scores.tsne.back(), scores.pca.back(), scores.full.back());
    ctx.info("{}: kNN separation {:.3f} in t-SNE, {:.3f} in PCA, {:.3f} in full features", attribute,
             scores.tsne.back(), scores.pca.back(), scores.full.back());
    ctx.save_file("tsne_" + name + ".png", scatter_png(e.tsne, y, attribute,
                                                       fmt::format("t-SNE of {}: {} (separation {:.2f})", e.layer,
                                                                   attribute, scores.tsne.back())));
    ctx.save_file(
        "pca_" + name + ".png",
        scatter_png(e.pca2, y, attribute, fmt::format("PCA: {} (separation {:.2f})", attribute, scores.pca.back())));
  }
};

}  // namespace

FACET_REGISTER_STEP(Embed2dStep);
