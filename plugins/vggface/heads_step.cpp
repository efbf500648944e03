// heads: trains attribute heads on cached features alone (the fast path
// when the backbone is frozen below the heads).
#include <random>

#include <facet/module_artifact.hpp>
#include <facet/plugin.hpp>
#include <facet/row_batches.hpp>

#include <vggface/attribute_heads.hpp>
#include "trainer.hpp"

namespace vggface = facet::vggface;

namespace {

using facet::Artifact;
using facet::Artifacts;
using facet::ParamSpec;

class HeadsStep final : public facet::Step {
 public:
  facet::StepInfo info() const override {
    vggface::TrainOptions defaults;
    defaults.optimizer = "adam";
    defaults.lr = 0.001;
    defaults.weight_decay = 0.0;
    defaults.epochs = 30;
    defaults.batch_size = 256;
    std::vector<ParamSpec> params = {
        ParamSpec::int_list("shared_fc", {}, "widths of shared fully connected layers before the heads").range(1, 1e6),
        ParamSpec::real("dropout", 0.5, "dropout after shared layers").range(0.0, 0.95)};
    for (auto& spec : vggface::TrainOptions::specs(defaults)) params.push_back(std::move(spec));
    return {"heads",
            "1.0",
            "Trains attribute heads on cached features (fc7 from extract) without touching the backbone",
            "classifier",
            params,
            {{"features", "features [N, D] with labels and num_classes (from extract with labels connected)"},
             {"split", "train and val row indices (from split)"}},
            {{"model", "the heads' weights and architecture (best validation epoch)"},
             {"predictions", "classes [N, H] int64 and confidence [N, H] float32 for every row"},
             {"history", "per epoch: train_loss, train_accuracy, val_loss, val_accuracy, lr"}},
            facet::Parallelism::DataParallel};
  }

  Artifacts run(const Artifacts& inputs, const facet::Params& params, facet::Context& ctx) override {
    const Artifact& features = inputs.at("features");
    if (!features.has("labels")) {
      throw facet::Error("heads: the features carry no labels; connect 'labels' to the extract step that made them");
    }
    const auto labels = features.get("labels").to(torch::kInt64);
    const auto num_classes = facet::to_rows(features.get("num_classes"));
    const auto& head_names = features.attr_strings("head_names");
    const auto options = vggface::AttributeHeadsOptions()
                             .in_features(features.shape("features").at(1))
                             .num_classes(num_classes)
                             .shared_fc(params.get_int_list("shared_fc"))
                             .dropout(params.get_float("dropout"));
    vggface::AttributeHeads heads(options);
    heads->to(ctx.device());
    const auto device = ctx.device();
    vggface::Forward forward = [&](const torch::Tensor& raw, bool, const facet::Share& rows) {
      return heads->forward(raw.slice(0, rows.begin, rows.end).to(device));
    };
    const auto& split = inputs.at("split");
    facet::RowBatches train(features, "features", facet::to_rows(split.get("train")));
    facet::RowBatches val(features, "features", facet::to_rows(split.get("val")));
    std::mt19937_64 rng(ctx.seed());
    const auto train_options = vggface::TrainOptions::from(params);
    const vggface::HeadData data{forward, train, val, labels, num_classes};
    const auto history = vggface::train_heads(*heads, data, train_options, rng, ctx);
    if (train_options.majority_fallback) {
      vggface::select_heads_on_validation(*heads, data, head_names, train_options.batch_size, rng, ctx);
    }
    heads->to(torch::kCPU);

    // Predictions for every row, in slices.
    torch::NoGradGuard no_grad;
    heads->eval();
    const std::int64_t n = features.num_rows("features");
    std::vector<torch::Tensor> classes, confidence;
    for (std::int64_t begin = 0; begin < n; begin += 4096) {
      const auto logits = heads->forward(features.rows("features", begin, std::min(n, begin + 4096)));
      auto [c, p] = vggface::classes_and_confidence(logits, num_classes);
      classes.push_back(c);
      confidence.push_back(p);
    }
    Artifact model = facet::module_to_artifact(*heads);
    model.set_attr("architecture", std::string("heads"));
    options.save(model);
    model.set_attr("head_names", head_names);
    double best = 0;
    for (const auto& r : history) best = std::max(best, r.val_accuracy);
    ctx.metric("best_val_accuracy", best);
    ctx.save_file("training.png", vggface::plot_history(history, "heads on cached features"));
    return {{"model", model},
            {"predictions",
             vggface::predictions_artifact(torch::cat(classes), torch::cat(confidence), num_classes, head_names)},
            {"history", vggface::history_artifact(history)}};
  }
};

}  // namespace

FACET_REGISTER_STEP(HeadsStep);
