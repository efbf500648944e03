// mean_scores: the mean of every attribute score (an out-of-tree plugin).
#include <facet/plugin.hpp>

namespace {

class MeanScores final : public facet::Step {
 public:
  facet::StepInfo info() const override {
    return {"mean_scores",
            "1.0",
            "Mean of every attribute score",
            "",
            {facet::ParamSpec::real("scale", 1.0, "factor applied to the means")},
            {{"attributes", "scores [N, A]"}},
            {{"means", "mean [A]"}}};
  }

  facet::Artifacts run(const facet::Artifacts& inputs, const facet::Params& params, facet::Context& ctx) override {
    const auto mean = inputs.at("attributes").get("scores").mean(0) * params.get_float("scale");
    ctx.metric("overall_mean", mean.mean().item<double>());
    facet::Artifact out;
    out.set("mean", mean);
    return {{"means", out}};
  }
};

}  // namespace

FACET_REGISTER_STEP(MeanScores);
