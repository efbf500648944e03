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
    const auto per_request = params.get_int("per_request");
    // Each request from a seed of its own (1.3; one stream before): the
    // ranks share the requests out and draw what one process would.
    gen::FaceSampler sampler(model);
    std::vector<torch::Tensor> faces;
    facet::for_each_chunk_in_order(
        ctx.group(), static_cast<std::int64_t>(requests.size()), 1,
        [&](std::int64_t request, std::int64_t) -> std::vector<torch::Tensor> {
          const std::uint64_t seed = ctx.seed() ^ (0x9E3779B97F4A7C15ULL * static_cast<std::uint64_t>(request + 1));
          std::mt19937_64 rng(seed);
          torch::manual_seed(seed & 0x7fffffffffffffffULL);
          return {sampler.faces(requests[static_cast<size_t>(request)], per_request, rng).unsqueeze(0)};
        },
        [&](const std::vector<torch::Tensor>& out) { faces.push_back(out[0]); });
    if (faces.empty()) return {{"samples", facet::Artifact()}};  // a rank other than 0: not kept
    return {{"samples", gen::samples_artifact(names, requests, texts, torch::cat(faces), ctx)}};
  }
};

}  // namespace

FACET_REGISTER_STEP(SampleStep);
