// sample: draws faces for attribute requests from a trained generator's
// model (draw, gan or invert), without training again. `runner generate` uses it.
#include <facet/plugin.hpp>

#include "generator_io.hpp"

namespace {

using facet::Artifacts;
namespace gen = facet::generators;

class SampleStep final : public facet::Step {
 public:
  facet::StepInfo info() const override {
    return {"sample",
            "1.3",
            "Faces for attribute requests from a generator's model (draw, gan or invert)",
            "sampler",
            {gen::requests_spec(), gen::per_request_spec()},
            {{"model", "a generator's model output"}},
            {gen::output_ports()[1]},
            facet::Parallelism::Sharded};
  }

  Artifacts run(const Artifacts& inputs, const facet::Params& params, facet::Context& ctx) override {
    const auto& model = inputs.at("model");
    if (!model.has_attr("architecture") || !model.has_attr("condition")) {
      throw facet::Error(
          "the 'model' input is not a generator's model (connect the model output of draw, gan or invert)");
    }
    const auto names = model.attr_strings("attribute_names");
    const auto texts = params.get_string_list("requests");
    const auto requests = gen::parse_requests(texts, names);
    const auto faces = gen::sample_faces(model, requests, params.get_int("per_request"), ctx.seed(), ctx.group());
    if (!faces.defined()) return {{"samples", facet::Artifact()}};  // a rank other than 0: not kept
    return {{"samples", gen::samples_artifact(names, requests, texts, faces, ctx)}};
  }
};

}  // namespace

FACET_REGISTER_STEP(SampleStep);
