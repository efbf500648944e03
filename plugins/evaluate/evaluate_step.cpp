// evaluate: per-attribute and per-head accuracy of predictions on a split.
#include <numeric>

#include <facet/markdown.hpp>
#include <facet/plot.hpp>
#include <facet/plugin.hpp>
#include <facet/pubfig.hpp>

#include "classification_metrics.hpp"

namespace evaluate = facet::evaluate;

namespace {

using evaluate::ColumnScore;
using facet::Artifact;
using facet::Artifacts;
using facet::ParamSpec;

double mean_of(const std::vector<ColumnScore>& scores, double ColumnScore::*field) {
  if (scores.empty()) return 0;
  double sum = 0;
  for (const auto& s : scores) sum += s.*field;
  return sum / static_cast<double>(scores.size());
}

std::string table(const std::string& title, const std::vector<ColumnScore>& scores) {
  std::string out = fmt::format("## {}\n\n| {} | accuracy | balanced | majority | known |\n|---|---:|---:|---:|---:|\n",
                                title, title == "Heads" ? "head" : "attribute");
  for (const auto& s : scores) {
    out += fmt::format("| {} | {:.4f} | {:.4f} | {:.4f} | {} |\n", facet::markdown_cell(s.name), s.accuracy,
                       s.balanced_accuracy, s.majority, s.known);
  }
  out +=
      fmt::format("| **mean** | **{:.4f}** | **{:.4f}** | **{:.4f}** | |\n\n", mean_of(scores, &ColumnScore::accuracy),
                  mean_of(scores, &ColumnScore::balanced_accuracy), mean_of(scores, &ColumnScore::majority));
  return out;
}

/// Horizontal bars: each attribute's accuracy beside its majority baseline.
std::string accuracy_png(const std::vector<ColumnScore>& scores, const std::string& title) {
  std::string data;
  for (size_t i = 0; i < scores.size(); ++i) {
    data += fmt::format("{} \"{}\" {} {}\n", i, scores[i].name, scores[i].accuracy, scores[i].majority);
  }
  const auto height = static_cast<int>(120 + 16 * scores.size());
  const std::string script = fmt::format(
      "set title '{}' noenhanced\nset style fill solid 0.8 noborder\nset xrange [0:1]\nset yrange [-1:{}]\n"
      "set ytics noenhanced font ',8'\nset grid x\nset key outside bottom center horizontal\nset xlabel 'accuracy'\n"
      "plot 'a.dat' using 3:1:(0):3:($1-0.38):($1+0.38):ytic(2) with boxxyerror lc rgb '#2e86ab' title 'model', "
      "'' using 4:1 with points pt 7 ps 0.7 lc rgb '#d1495b' title 'majority baseline'",
      title, scores.size());
  return facet::gnuplot_png(script, {{"a.dat", data}}, 800, height);
}

class EvaluateStep final : public facet::Step {
 public:
  facet::StepInfo info() const override {
    return {"evaluate",
            "1.1",
            "Per-attribute and per-head accuracy, balanced accuracy and majority baseline of predictions on a split",
            "evaluation",
            {ParamSpec::choice("subset", "test", {"train", "val", "test"}, "the split rows to score")},
            {{"predictions", "classes [N, H] (from extract or heads)"},
             {"labels", "labels [N, H] and num_classes [H] (from binarize)"},
             {"split", "row indices per subset (from split)"}},
            {{"metrics", "per attribute and per head: accuracy, balanced_accuracy, majority; the Markdown report"}}};
  }

  Artifacts run(const Artifacts& inputs, const facet::Params& params, facet::Context& ctx) override {
    const Artifact& labels_in = inputs.at("labels");
    const auto subset = params.get_string("subset");
    const auto rows = inputs.at("split").get(subset);
    const auto truth = labels_in.get("labels").index_select(0, rows);
    const auto predicted = inputs.at("predictions").get("classes").index_select(0, rows);
    if (truth.sizes() != predicted.sizes()) {
      throw facet::Error(
          fmt::format("evaluate: predictions have {} heads, labels {}; were they made for the same "
                      "binarize mode?",
                      predicted.size(1), truth.size(1)));
    }
    const bool grouped = labels_in.attr_string("mode") == "grouped";
    const auto heads = score_heads(truth, predicted, labels_in);
    const auto attributes =
        grouped ? score_group_attributes(truth, predicted, labels_in.attr_strings("attribute_names")) : heads;
    const auto report = fmt::format("# Evaluation on the {} split ({} images)\n\n", subset, rows.numel()) +
                        report_scores(attributes, heads, grouped, labels_in, ctx);
    ctx.save_file("evaluation.md", report);
    ctx.save_file("accuracy.png", accuracy_png(attributes, fmt::format("Per-attribute accuracy ({} split)", subset)));
    auto out = scores_artifact(attributes, heads);
    out.set_attr("head_names", labels_in.attr_strings("head_names"));
    out.set_attr("subset", subset);
    out.set_attr("report", report);
    return {{"metrics", out}};
  }

 private:
  static std::vector<ColumnScore> score_heads(const torch::Tensor& truth, const torch::Tensor& predicted,
                                              const Artifact& labels_in) {
    const auto num_classes = labels_in.get("num_classes");
    const auto& head_names = labels_in.attr_strings("head_names");
    std::vector<ColumnScore> heads;
    for (std::int64_t h = 0; h < truth.size(1); ++h) {
      heads.push_back(evaluate::score_column(truth.select(1, h), predicted.select(1, h),
                                             num_classes[h].item<std::int64_t>(), head_names[static_cast<size_t>(h)]));
    }
    return heads;
  }

  /// With grouped heads, each attribute as a yes/no column. An attribute's
  /// baseline is its head's: the group's most common class, scored per
  /// attribute (a group head cannot predict each member's own majority at once).
  static std::vector<ColumnScore> score_group_attributes(const torch::Tensor& truth, const torch::Tensor& predicted,
                                                         const std::vector<std::string>& names) {
    std::vector<torch::Tensor> constant;
    for (std::int64_t h = 0; h < truth.size(1); ++h) {
      const auto column = truth.select(1, h);
      const auto known = column.index({column >= 0});
      const auto majority = known.numel() > 0 ? torch::bincount(known).argmax() : torch::zeros({}, torch::kInt64);
      constant.push_back(torch::where(column < 0, column, majority.expand_as(column)));
    }
    const auto constants = torch::stack(constant, 1);
    std::vector<ColumnScore> attributes;
    for (int a = 0; a < static_cast<int>(names.size()); ++a) {
      const auto position = facet::pubfig::group_position(a);
      const auto column = [&](const torch::Tensor& classes) {
        return evaluate::attribute_column(classes.select(1, position.group), position.cls);
      };
      auto score = evaluate::score_column(column(truth), column(predicted), 2, names[static_cast<size_t>(a)]);
      score.majority = evaluate::score_column(column(truth), column(constants), 2, score.name).accuracy;
      attributes.push_back(score);
    }
    return attributes;
  }

  /// The metrics, the log lines and the Markdown tables.
  static std::string report_scores(const std::vector<ColumnScore>& attributes, const std::vector<ColumnScore>& heads,
                                   bool grouped, const Artifact& labels_in, facet::Context& ctx) {
    auto summarise = [&](const std::string& key, const std::vector<ColumnScore>& scores) {
      ctx.metric(key + "mean_accuracy", mean_of(scores, &ColumnScore::accuracy));
      ctx.metric(key + "mean_balanced_accuracy", mean_of(scores, &ColumnScore::balanced_accuracy));
      ctx.metric(key + "mean_majority", mean_of(scores, &ColumnScore::majority));
    };
    summarise("", attributes);
    summarise("head_", heads);
    std::string report;
    if (labels_in.has_attr("rendered_attributes")) {
      const auto& rendered = labels_in.attr_strings("rendered_attributes");
      std::vector<ColumnScore> shown, noise;
      for (const auto& a : attributes) {
        (std::find(rendered.begin(), rendered.end(), a.name) != rendered.end() ? shown : noise).push_back(a);
      }
      summarise("rendered_", shown);
      summarise("noise_", noise);
      report += table("Rendered attributes", shown) + table("Attributes left as noise", noise);
      ctx.info("rendered attributes: accuracy {:.4f} (majority {:.4f}); noise attributes: {:.4f} (majority {:.4f})",
               mean_of(shown, &ColumnScore::accuracy), mean_of(shown, &ColumnScore::majority),
               mean_of(noise, &ColumnScore::accuracy), mean_of(noise, &ColumnScore::majority));
    } else {
      report += table("Attributes", attributes);
    }
    if (grouped) report += table("Heads", heads);
    ctx.info("mean accuracy {:.4f} over {} attributes (majority baseline {:.4f}), {:.4f} over {} heads",
             mean_of(attributes, &ColumnScore::accuracy), attributes.size(),
             mean_of(attributes, &ColumnScore::majority), mean_of(heads, &ColumnScore::accuracy), heads.size());
    return report;
  }

  /// The scores as tensors, one per column, attributes and heads.
  static Artifact scores_artifact(const std::vector<ColumnScore>& attributes, const std::vector<ColumnScore>& heads) {
    auto column = [](const std::vector<ColumnScore>& scores, double ColumnScore::*field) {
      std::vector<double> v;
      for (const auto& s : scores) v.push_back(s.*field);
      return torch::tensor(v, torch::kFloat64);
    };
    std::vector<std::string> attribute_names;
    for (const auto& a : attributes) attribute_names.push_back(a.name);
    Artifact out;
    out.set("accuracy", column(attributes, &ColumnScore::accuracy));
    out.set("balanced_accuracy", column(attributes, &ColumnScore::balanced_accuracy));
    out.set("majority", column(attributes, &ColumnScore::majority));
    out.set("head_accuracy", column(heads, &ColumnScore::accuracy));
    out.set("head_balanced_accuracy", column(heads, &ColumnScore::balanced_accuracy));
    out.set("head_majority", column(heads, &ColumnScore::majority));
    out.set_attr("attribute_names", attribute_names);
    return out;
  }
};

}  // namespace

FACET_REGISTER_STEP(EvaluateStep);
