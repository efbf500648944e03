// sample: draws faces for attribute requests from a trained generator's
// model (draw, gan or invert), without training again. `runner generate`
// uses it. Besides the written requests it can draw held-out ones at random
// from the attribute combinations of real test faces: requests no setting
// was tuned on.
#include <facet/plugin.hpp>

#include "generator_io.hpp"
#include "models.hpp"

namespace {

using facet::Artifacts;
namespace gen = facet::generators;

class SampleStep final : public facet::Step {
 public:
  facet::StepInfo info() const override {
    return {
        "sample",
        "1.4",
        "Faces for attribute requests from a generator's model (draw, gan, invert or nearest), written or held out",
        "sampler",
        {gen::requests_spec(), gen::per_request_spec(),
         facet::ParamSpec::integer("held_out", 0,
                                   "requests drawn at random (from the step's seed) from the attribute "
                                   "combinations of real test faces, after the written ones; needs `attributes`")
             .range(0, 10'000),
         facet::ParamSpec::integer("held_out_attributes", 3, "attributes per held-out request at most").range(1, 20),
         facet::ParamSpec::integer("held_out_seed", 1,
                                   "the seed held-out requests are drawn from (not the step's: every sample step with "
                                   "the same seed draws the same requests, so generators are judged on the same ones)")
             .range(0, 1'000'000'000)},
        {{"model", "a generator's model output"},
         {"attributes", "the dataset's attributes, to draw held-out requests from", true},
         {"split", "the held-out requests come from its test rows (all rows without it)", true}},
        {gen::output_ports()[1]},
        facet::Parallelism::Sharded};
  }

  Artifacts run(const Artifacts& inputs, const facet::Params& params, facet::Context& ctx) override {
    const auto& model = inputs.at("model");
    if (!model.has_attr("architecture") || !model.has_attr("condition")) {
      throw facet::Error(
          "the 'model' input is not a generator's model (connect the model output of draw, gan, invert or nearest)");
    }
    const auto names = model.attr_strings("attribute_names");
    auto texts = params.get_string_list("requests");
    const auto written = static_cast<std::int64_t>(texts.size());
    for (auto& text : held_out(inputs, params, ctx)) texts.push_back(std::move(text));
    if (texts.empty()) throw facet::Error("no requests: write some under `requests` or set held_out");
    const auto requests = gen::parse_requests(texts, names);
    const auto faces = gen::sample_faces(model, requests, params.get_int("per_request"), ctx.seed(), ctx.group());
    if (!faces.defined()) return {{"samples", facet::Artifact()}};  // a rank other than 0: not kept
    auto samples = gen::samples_artifact(names, requests, texts, faces, ctx);
    samples.set_attr("written_requests", written);  // the rest were held out
    return {{"samples", samples}};
  }

 private:
  static std::vector<std::string> held_out(const Artifacts& inputs, const facet::Params& params, facet::Context& ctx) {
    const auto count = params.get_int("held_out");
    if (count == 0) return {};
    if (inputs.count("attributes") == 0) {
      throw facet::Error(
          fmt::format("held_out: {} needs the dataset's attributes: connect the `attributes` input", count));
    }
    const auto& attributes = inputs.at("attributes");
    auto rows = gen::split_rows(inputs, "test", attributes.num_rows("scores"));
    if (rows.numel() == 0) rows = torch::arange(attributes.num_rows("scores"));
    ctx.info("{} held-out requests drawn from real faces' attributes", count);
    return gen::held_out_requests(attributes, rows, count, params.get_int("held_out_attributes"),
                                  static_cast<std::uint64_t>(params.get_int("held_out_seed")));
  }
};

}  // namespace

FACET_REGISTER_STEP(SampleStep);
