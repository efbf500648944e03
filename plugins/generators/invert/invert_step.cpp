// invert: the final DeepFace report's generator. Fits a Gaussian per
// attribute over one layer of the trained classifier and optimises faces
// until that layer matches the requested attributes. Every rank fits the
// same Gaussians; the ranks share the requests' optimisations out.
#include <facet/plugin.hpp>

#include <vggface/vgg_face.hpp>
#include "generator_io.hpp"
#include "invert_model.hpp"
#include "models.hpp"

namespace vggface = facet::vggface;

namespace {

using facet::Artifacts;
using facet::ParamSpec;
namespace gen = facet::generators;
namespace invert = facet::generators::invert;

class InvertStep final : public facet::Step {
 public:
  facet::StepInfo info() const override {
    const invert::InvertOptions d;
    return {
        "invert",
        "1.2",
        "Feature inversion: faces optimised until a classifier layer matches the requested attributes' Gaussians",
        "generator",
        {ParamSpec::choice("layer", d.layer(), vggface::layer_names(),
                           "the classifier layer whose per-attribute Gaussians are matched (conv3_1 in the report)"),
         ParamSpec::integer("size", d.size(), "image width and height of the optimised faces").range(8, 256),
         ParamSpec::integer("iterations", d.iterations(), "optimisation steps for each batch of faces")
             .range(1, 100000),
         ParamSpec::real("lr", d.lr(), "Adam step on pixel values in [0, 1]").range(0.0, 1.0),
         ParamSpec::real("tv_weight", d.tv_weight(), "total variation weight (smoothness)").range(0.0, 1e6),
         ParamSpec::integer("jitter", d.jitter(), "largest random shift in pixels before each step").range(0, 64),
         ParamSpec::integer("blur_every", d.blur_every(), "blur the faces every this many steps (0: never)")
             .range(0, 100000),
         ParamSpec::real("blur_sigma", d.blur_sigma(), "that blur's standard deviation in pixels").range(0.01, 10.0),
         ParamSpec::choice(
             "start", d.start(), {"faces", "mean"},
             "faces: start from the training faces with the most of the request; mean: from the mean training face"),
         ParamSpec::real("start_noise", d.start_noise(), "noise added to the starting faces").range(0.0, 1.0),
         gen::requests_spec(), gen::per_request_spec()},
        gen::input_ports(),
        gen::output_ports(),
        facet::Parallelism::Sharded};
  }

  Artifacts run(const Artifacts& inputs, const facet::Params& params, facet::Context& ctx) override {
    if (inputs.count("classifier") == 0) {
      throw facet::Error(
          "invert optimises faces through the attribute classifier: connect its 'classifier' input to a "
          "vggface model (classifier: backbone.model)");
    }
    const auto& classifier = inputs.at("classifier");
    const auto& images = inputs.at("images");
    const auto& attributes = inputs.at("attributes");
    gen::ConditionModel conditions;  // inversion needs no condition vector, only the names
    conditions.attribute_names = attributes.attr_strings("attribute_names");
    gen::parse_requests(params.get_string_list("requests"), conditions.attribute_names);  // fail before fitting
    const auto n = gen::dataset_rows(inputs);
    const auto options = invert::InvertOptions()
                             .layer(params.get_string("layer"))
                             .size(params.get_int("size"))
                             .iterations(params.get_int("iterations"))
                             .lr(params.get_float("lr"))
                             .tv_weight(params.get_float("tv_weight"))
                             .jitter(params.get_int("jitter"))
                             .blur_every(params.get_int("blur_every"))
                             .blur_sigma(params.get_float("blur_sigma"))
                             .start(params.get_string("start"))
                             .start_noise(params.get_float("start_noise"));
    auto net = vggface::load_attribute_net(classifier, "the 'classifier' input");
    const auto rows = gen::split_rows(inputs, "train", n);
    const auto gaussians = invert::fit(net, classifier.attr_string("preprocessing"), options, images,
                                       gen::attribute_signs(attributes), rows, gen::kStartingFaces, ctx.seed(), ctx);
    ctx.info("{} Gaussians over {} ({} wide) from {} training faces", gaussians.mean.size(0), options.layer(),
             gaussians.mean.size(1), rows.numel());
    return gen::finish(gen::invert_artifact(classifier, options, gaussians), conditions, params, ctx);
  }
};

}  // namespace

FACET_REGISTER_STEP(InvertStep);
