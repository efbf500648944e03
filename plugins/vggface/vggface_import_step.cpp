// vggface_import: the published VGG-Face weights (a Keras HDF5 file) as a
// model artifact, to start `vggface` from (its `weights` input).
#include <facet/module_artifact.hpp>
#include <facet/plugin.hpp>

#include <vggface/vgg_face.hpp>
#include "keras_weights.hpp"

namespace vggface = facet::vggface;

namespace {

using facet::Artifact;
using facet::Artifacts;
using facet::ParamSpec;

class VggFaceImportStep final : public facet::Step {
 public:
  facet::StepInfo info() const override {
    return {"vggface_import",
            "1.0",
            "Imports VGG-Face weights from a Keras HDF5 file (keras-vggface's rcmalli_vggface_tf_vgg16.h5)",
            "model",
            {ParamSpec::path("file", "data/vggface/rcmalli_vggface_tf_vgg16.h5",
                             "Keras weights (save_weights or whole-model save; Keras 1 or 2 names)"),
             ParamSpec::flag("fc8", true, "keep fc8 (the identity classifier) when the file has it")},
            {},
            {{"model",
              "backbone.* weights in LibTorch's layout; architecture attributes (input_size, width, "
              "identities) and preprocessing: vggface"}}};
  }

  Artifacts run(const Artifacts&, const facet::Params& params, facet::Context& ctx) override {
    const std::string file = params.get_string("file");
    auto options = vggface::keras_architecture(file).dropout(0.5);
    if (!params.get_bool("fc8")) options.identities(0);
    vggface::VggFace net(options);
    vggface::load_keras_weights(*net, file);
    ctx.info("{}: input {} px, width {}, {} identities", file, options.input_size(), options.width(),
             options.identities());
    Artifact model;
    const auto weights = facet::module_to_artifact(*net);
    for (const auto& name : weights.tensor_names()) model.set("backbone." + name, weights.get(name));
    options.save(model);
    model.set_attr("preprocessing", std::string("vggface"));
    model.set_attr("source", file);
    return {{"model", model}};
  }
};

}  // namespace

FACET_REGISTER_STEP(VggFaceImportStep);
