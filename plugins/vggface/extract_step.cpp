// extract: one forward pass writing a layer's activations and the heads' predictions.
#include <random>

#include <facet/plugin.hpp>

#include "attribute_net.hpp"
#include "batches.hpp"

namespace {

using facet::Artifact;
using facet::Artifacts;
using facet::ParamSpec;

class Extract final : public facet::Step {
 public:
  facet::StepInfo info() const override {
    std::vector<std::string> layers = vggface::layer_names();
    layers.pop_back();  // fc8 is replaced by the heads
    return {"extract",
            "1.0",
            "Forward pass of a trained vggface model: a layer's activations (fc7) and every head's prediction",
            "features",
            {ParamSpec::choice("layer", "fc7", layers, "the layer whose activations are written"),
             ParamSpec::integer("batch_size", 256, "images per forward pass (bounds memory)").range(1, 65536)},
            {{"model", "a vggface model artifact"},
             {"images", "images [N, 3, S, S] uint8"},
             {"labels", "labels to carry along with the features", /*optional=*/true}},
            {{"features", "features [N, D] float32 (streamed), person, image_id, and labels when connected"},
             {"predictions", "classes [N, H] int64 and confidence [N, H] float32 per head; head_names, num_classes"}}};
  }

  Artifacts run(const Artifacts& inputs, const facet::Params& params, facet::Context& ctx) override {
    const Artifact& model = inputs.at("model");
    const Artifact& images = inputs.at("images");
    auto net = vggface::load_attribute_net(model, "the 'model' input");
    net->to(ctx.device());
    const auto num_classes = net->heads->options().num_classes();
    const vggface::Preprocessing prep{model.attr_string("preprocessing"), net->backbone->options().input_size(), false};
    const std::string layer = params.get_string("layer");
    const std::int64_t n = images.num_rows("images"), batch = params.get_int("batch_size");
    const std::int64_t width = net->backbone->output_size(layer);

    auto features = ctx.create_rows("features", "features", {n, width}, torch::kFloat32);
    auto classes = torch::empty({n, static_cast<std::int64_t>(num_classes.size())}, torch::kInt64);
    auto confidence = torch::empty({n, static_cast<std::int64_t>(num_classes.size())}, torch::kFloat32);
    std::mt19937_64 rng(ctx.seed());
    torch::NoGradGuard no_grad;
    auto progress = ctx.progress("extracting " + layer, n, "images");
    for (std::int64_t begin = 0; begin < n; begin += batch) {
      const auto end = std::min(n, begin + batch);
      const auto x = vggface::preprocess(images.rows("images", begin, end), prep, rng).to(ctx.device());
      const auto activations = net->backbone->forward(x, layer);
      const auto fc7 = layer == "fc7" ? activations : net->backbone->forward(x, "fc7");
      const auto logits = net->heads->forward(fc7);
      features->append(activations.flatten(1).cpu().contiguous());
      std::int64_t offset = 0;
      for (size_t h = 0; h < num_classes.size(); ++h) {
        const auto probs = torch::softmax(logits.slice(1, offset, offset + num_classes[h]), 1).cpu();
        const auto [best, index] = probs.max(1);
        classes.slice(0, begin, end).select(1, static_cast<std::int64_t>(h)).copy_(index);
        confidence.slice(0, begin, end).select(1, static_cast<std::int64_t>(h)).copy_(best);
        offset += num_classes[h];
      }
      progress->advance(end - begin);
    }

    Artifact feats;
    feats.set("features", features->finish());
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
    Artifact predictions;
    predictions.set("classes", classes);
    predictions.set("confidence", confidence);
    predictions.set("num_classes", torch::tensor(num_classes, torch::kInt64));
    predictions.set_attr("head_names", model.attr_strings("head_names"));
    ctx.info("{} images: {} [{}] and {} head predictions", n, layer, width, num_classes.size());
    return {{"features", feats}, {"predictions", predictions}};
  }
};

}  // namespace

FACET_REGISTER_STEP(Extract);
