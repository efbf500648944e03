// nearest: the baseline every generator is measured against. It "draws" a
// request by copying training faces that already have the most of it: the
// very faces whose condition vectors DRAW and the GAN start from (same
// seed, same picks), and what inversion starts from. A generator's figure
// beside this one says what the generator adds.
#include <facet/plugin.hpp>

#include "generator_io.hpp"
#include "models.hpp"

namespace {

using facet::Artifacts;
using facet::ParamSpec;
namespace gen = facet::generators;

class NearestStep final : public facet::Step {
 public:
  facet::StepInfo info() const override {
    return {"nearest",
            "1.0",
            "Baseline generator: copies the training faces closest to each request (those generators start from)",
            "generator",
            {ParamSpec::integer("size", 32, "image width and height of the copied faces").range(8, 256),
             gen::requests_spec(), gen::per_request_spec()},
            gen::input_ports(),
            gen::output_ports(),
            facet::Parallelism::Sharded};
  }

  Artifacts run(const Artifacts& inputs, const facet::Params& params, facet::Context& ctx) override {
    gen::TrainingData data(inputs, "attributes", params.get_int("size"), ctx);
    gen::parse_requests(params.get_string_list("requests"), data.conditions.attribute_names);
    const auto faces = data.pixels(data.starting_rows).mul(255).round().to(torch::kUInt8);
    ctx.info("{} training faces to copy from", faces.size(0));
    return gen::finish(gen::nearest_artifact(faces), data.conditions, params, ctx);
  }
};

}  // namespace

FACET_REGISTER_STEP(NearestStep);
