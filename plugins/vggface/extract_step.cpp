// extract: one forward pass writing a layer's activations and the heads' predictions.
#include <random>

#include <facet/plugin.hpp>
#include <facet/precision.hpp>

#include <vggface/attribute_net.hpp>
#include <vggface/preprocessing.hpp>

namespace vggface = facet::vggface;

namespace {

using facet::Artifact;
using facet::Artifacts;
using facet::ParamSpec;

class ExtractStep final : public facet::Step {
 public:
  facet::StepInfo info() const override {
    std::vector<std::string> layers = vggface::layer_names();
    layers.pop_back();  // fc8 is replaced by the heads
    return {"extract",
            "1.2",
            "Forward pass of a trained vggface model: a layer's activations (fc7) and every head's prediction",
            "features",
            {ParamSpec::choice("layer", "fc7", layers, "the layer whose activations are written"),
             ParamSpec::integer("batch_size", 256, "images per forward pass (bounds memory)").range(1, 65536),
             facet::precision_spec()},
            {{"model", "a vggface model artifact, or a backbone alone from vggface_import (then no predictions)"},
             {"images", "images [N, 3, S, S] uint8"},
             {"labels", "labels to carry along with the features", /*optional=*/true}},
            {{"features", "features [N, D] float32 (streamed), person, image_id, and labels when connected"},
             {"predictions", "classes [N, H] int64 and confidence [N, H] float32 per head; head_names, num_classes"}},
            facet::Parallelism::Sharded};
  }

  Artifacts run(const Artifacts& inputs, const facet::Params& params, facet::Context& ctx) override {
    const Artifact& model = inputs.at("model");
    const Artifact& images = inputs.at("images");
    auto network = load_network(model, ctx.device());
    auto& net = network.net;  // empty for a backbone alone
    auto& backbone = network.backbone;
    const auto& num_classes = network.num_classes;
    const vggface::Preprocessing prep{model.attr_string("preprocessing"), backbone->options().input_size(), false};
    const std::string layer = params.get_string("layer");
    const std::string precision = params.get_string("precision");
    const std::int64_t n = images.num_rows("images"), batch = params.get_int("batch_size");
    const std::int64_t width = backbone->output_size(layer);
    const auto heads = static_cast<std::int64_t>(num_classes.size());

    auto features = ctx.create_rows("features", "features", {n, width}, torch::kFloat32);
    std::vector<torch::Tensor> classes, confidence;
    std::mt19937_64 rng(ctx.seed());  // unused: no augmentation here
    auto progress = ctx.progress("extracting " + layer, n, "images");
    // Batches shared out over the ranks; rank 0 stores them in row order.
    facet::for_each_chunk_in_order(
        ctx.group(), n, batch,
        [&](std::int64_t begin, std::int64_t end) -> std::vector<torch::Tensor> {
          c10::InferenceMode inference;  // no autograd bookkeeping at all: the outputs are only stored
          const auto x = vggface::preprocess(images.rows("images", begin, end), prep, rng).to(ctx.device());
          facet::Autocast autocast(precision, ctx.device());
          const auto activations = backbone->forward(x, layer).to(torch::kFloat32);
          if (!net) {
            return {activations.flatten(1).cpu(), torch::zeros({end - begin, 0}, torch::kInt64),
                    torch::zeros({end - begin, 0}, torch::kFloat32)};
          }
          const auto fc7 = layer == "fc7" ? activations : backbone->forward(x, "fc7");
          const auto logits = net->heads->forward(fc7).to(torch::kFloat32);
          auto [c, p] = vggface::classes_and_confidence(logits, num_classes);
          return {activations.flatten(1).cpu(), c.cpu(), p.cpu()};
        },
        [&](const std::vector<torch::Tensor>& out) {
          features->append(out[0].contiguous());
          classes.push_back(out[1]);
          confidence.push_back(out[2]);
          progress->advance(out[0].size(0));
        });
    if (classes.empty()) {  // a rank other than 0: what it returns is not kept
      classes.push_back(torch::zeros({0, heads}, torch::kInt64));
      confidence.push_back(torch::zeros({0, heads}, torch::kFloat32));
    }

    Artifact feats;
    feats.set("features", features->finish());
    carry_along(feats, layer, images, inputs);
    ctx.info("{} images: {} [{}] and {} head predictions", n, layer, width, heads);
    const auto head_names = net ? model.attr_strings("head_names") : std::vector<std::string>{};
    return {{"features", feats},
            {"predictions",
             vggface::predictions_artifact(torch::cat(classes), torch::cat(confidence), num_classes, head_names)}};
  }

 private:
  /// A trained classifier, or a backbone alone (vggface_import: the
  /// pretrained network's features, and no predictions; `net` is then empty).
  struct Network {
    vggface::AttributeNet net{nullptr};
    vggface::VggFace backbone{nullptr};
    std::vector<std::int64_t> num_classes;
  };

  static Network load_network(const Artifact& model, const torch::Device& device) {
    Network n;
    if (vggface::has_attribute_heads(model)) {
      n.net = vggface::load_attribute_net(model, "the 'model' input");
      n.backbone = n.net->backbone;
      n.num_classes = n.net->heads->options().num_classes();
      n.net->to(device);  // its backbone too
    } else {
      n.backbone = vggface::VggFace(vggface::VggFaceOptions::load(model));
      vggface::load_backbone(*n.backbone, model, "the 'model' input");
      n.backbone->eval();
      n.backbone->to(device);
    }
    return n;
  }

  /// What the features output carries beside the activations: the layer,
  /// the images' person and image ids and, when connected, the labels.
  static void carry_along(Artifact& feats, const std::string& layer, const Artifact& images, const Artifacts& inputs) {
    feats.set_attr("layer", layer);
    for (const char* pass : {"person", "image_id"}) {
      if (images.has(pass)) feats.set(pass, images.get(pass));
    }
    if (inputs.count("labels") != 0) {
      const Artifact& labels = inputs.at("labels");
      feats.set("labels", labels.get("labels"));
      feats.set("num_classes", labels.get("num_classes"));
      feats.set_attr("head_names", labels.attr_strings("head_names"));
    }
  }
};

}  // namespace

FACET_REGISTER_STEP(ExtractStep);
