// vggface: fine-tunes the VGG-Face CNN with fc8 replaced by attribute heads.
#include <random>

#include <facet/module_artifact.hpp>
#include <facet/plugin.hpp>
#include <facet/precision.hpp>
#include <facet/row_batches.hpp>

#include <vggface/attribute_net.hpp>
#include <vggface/preprocessing.hpp>
#include "trainer.hpp"

namespace vggface = facet::vggface;

namespace {

using facet::Artifact;
using facet::Artifacts;
using facet::ParamSpec;

std::vector<std::string> trainable_choices() {
  std::vector<std::string> names{"all"};
  for (const auto& n : vggface::layer_names()) {
    if (n != "fc8") names.push_back(n);
  }
  names.push_back("heads");
  return names;
}

class VggFaceStep final : public facet::Step {
 public:
  facet::StepInfo info() const override {
    vggface::TrainOptions defaults;
    defaults.lr = 0.01;
    defaults.epochs = 10;
    std::vector<ParamSpec> params = {
        ParamSpec::integer("input_size", 224,
                           "network input in pixels (fc6 sees floor(size / 32)^2 positions); images are resized to it")
            .range(32, 1024),
        ParamSpec::real("width", 1.0, "layer width multiplier (1.0: VGG-16's 64..512 channels, 4096-wide fc6/fc7)")
            .range(0.01, 4.0),
        ParamSpec::flag("batch_norm", false,
                        "batch normalisation after each convolution, fc6 and fc7 (not in VGG-Face)"),
        ParamSpec::real("dropout", 0.5, "dropout after fc6, fc7 and shared layers").range(0.0, 0.95),
        ParamSpec::choice("trainable_from", "all", trainable_choices(),
                          "first trainable layer: every layer before it is frozen (no gradients, no weight decay, "
                          "fixed batch statistics)"),
        ParamSpec::int_list("shared_fc", {}, "widths of shared fully connected layers between fc7 and the heads")
            .range(1, 1e6),
        ParamSpec::choice("preprocessing", "unit", {"unit", "vggface"},
                          "unit: RGB to [-1, 1]; vggface: BGR minus VGG-Face's mean pixel (for imported weights)"),
        ParamSpec::flag("augment", true, "random crops and horizontal flips while training"),
        ParamSpec::choice("train_subset", "train", {"train", "judge"},
                          "the split's rows trained on: train, or judge (the persons split sets aside for an "
                          "independent judge of generated faces)"),
        facet::precision_spec()};
    for (auto& spec : vggface::TrainOptions::specs(defaults)) params.push_back(std::move(spec));
    return {"vggface",
            "1.5",
            "Fine-tunes a VGG-Face CNN whose fc8 is replaced by per-attribute softmax heads",
            "classifier",
            params,
            {{"images", "images [N, 3, S, S] uint8"},
             {"labels", "labels [N, H] int64 (-1 unknown) and num_classes [H] (from binarize)"},
             {"split", "train and val row indices (from split)"},
             {"weights", "a vggface model artifact to start from (its backbone)", /*optional=*/true}},
            {{"model", "the trained network's weights and architecture (best validation epoch)"},
             {"history", "per epoch: train_loss, train_accuracy, val_loss, val_accuracy, lr"}},
            facet::Parallelism::DataParallel};
  }

  Artifacts run(const Artifacts& inputs, const facet::Params& params, facet::Context& ctx) override {
    const Artifact& images = inputs.at("images");
    const Artifact& labels_in = inputs.at("labels");
    const Artifact& split = inputs.at("split");
    const auto labels = labels_in.get("labels").to(torch::kInt64);
    const auto num_classes = facet::to_rows(labels_in.get("num_classes"));
    const auto& head_names = labels_in.attr_strings("head_names");
    if (labels.size(0) != images.num_rows("images")) {
      throw facet::Error(
          fmt::format("vggface: {} images but {} label rows; connect labels and images of the same "
                      "dataset",
                      images.num_rows("images"), labels.size(0)));
    }
    auto net = build_network(params, num_classes, inputs);
    net->to(ctx.device());

    vggface::Preprocessing train_prep{params.get_string("preprocessing"), params.get_int("input_size"),
                                      params.get_bool("augment")};
    vggface::Preprocessing eval_prep = train_prep;
    eval_prep.augment = false;
    std::mt19937_64 rng(ctx.seed());
    const auto device = ctx.device();
    const auto precision = params.get_string("precision");
    vggface::Forward forward = [&](const torch::Tensor& raw, bool training, const facet::Share& rows) {
      const auto input = vggface::preprocess(raw, training ? train_prep : eval_prep, rng);
      facet::Autocast autocast(precision, device);
      return net->forward(input.slice(0, rows.begin, rows.end).to(device)).to(torch::kFloat32);
    };
    const auto train_rows = facet::to_rows(split.get(train_subset_of(split, params)));
    const auto val_rows = facet::to_rows(split.get("val"));
    facet::RowBatches train(images, "images", train_rows), val(images, "images", val_rows);
    ctx.info("{} parameters ({} trainable), fc7 width {}, {} heads; {} train / {} val images",
             count(net->parameters(), false), count(net->parameters(), true), net->heads->options().in_features(),
             num_classes.size(), train.size(), val.size());
    const auto train_options = vggface::TrainOptions::from(params);
    const vggface::HeadData data{forward, train, val, labels, num_classes};
    const auto history = vggface::train_heads(*net, data, train_options, rng, ctx);
    if (train_options.majority_fallback) {
      vggface::select_heads_on_validation(*net->heads, data, head_names, train_options.batch_size, rng, ctx);
    }
    net->to(torch::kCPU);

    Artifact model = vggface::save_attribute_net(net, params.get_string("preprocessing"), head_names);
    model.set_attr("trainable_from", params.get_string("trainable_from"));
    const auto& best = *std::max_element(history.begin(), history.end(),
                                         [](const auto& a, const auto& b) { return a.val_accuracy < b.val_accuracy; });
    ctx.metric("best_val_accuracy", best.val_accuracy);
    ctx.save_file("training.png", vggface::plot_history(history, fmt::format("vggface, trainable from {}",
                                                                             params.get_string("trainable_from"))));
    ctx.metric("final_train_accuracy", history.back().train_accuracy);
    return {{"model", model}, {"history", vggface::history_artifact(history)}};
  }

 private:
  /// The backbone and heads the parameters describe, started from the
  /// `weights` input's backbone when connected, frozen below trainable_from.
  static vggface::AttributeNet build_network(const facet::Params& params, const std::vector<std::int64_t>& num_classes,
                                             const Artifacts& inputs) {
    const auto backbone_options = vggface::VggFaceOptions()
                                      .input_size(params.get_int("input_size"))
                                      .width(params.get_float("width"))
                                      .batch_norm(params.get_bool("batch_norm"))
                                      .fc_batch_norm(params.get_bool("batch_norm"))
                                      .dropout(params.get_float("dropout"));
    const auto heads_options = vggface::AttributeHeadsOptions()
                                   .in_features(vggface::fc7_width(backbone_options))
                                   .num_classes(num_classes)
                                   .shared_fc(params.get_int_list("shared_fc"))
                                   .dropout(params.get_float("dropout"));
    vggface::AttributeNet net(backbone_options, heads_options);
    if (inputs.count("weights") != 0)
      vggface::load_backbone(*net->backbone, inputs.at("weights"), "the 'weights' input");
    net->backbone->set_trainable_from(params.get_string("trainable_from"));
    return net;
  }

  /// The split's subset trained on (train, or judge); an error when the split has none.
  static std::string train_subset_of(const Artifact& split, const facet::Params& params) {
    const auto subset = params.get_string("train_subset");
    if (!split.has(subset)) {
      throw facet::Error(
          fmt::format("vggface: train_subset: {} but the split has no '{}' rows; give the split step a judge fraction "
                      "(e.g. judge: 0.15)",
                      subset, subset));
    }
    return subset;
  }

  static std::int64_t count(const std::vector<torch::Tensor>& params, bool trainable_only) {
    std::int64_t n = 0;
    for (const auto& p : params) n += (!trainable_only || p.requires_grad()) ? p.numel() : 0;
    return n;
  }
};

}  // namespace

FACET_REGISTER_STEP(VggFaceStep);
