#pragma once

// What every generator step shares (draw, gan, invert, nearest): the
// parameters and inputs it declares and the outputs `model` and `samples` it
// finishes with, so swapping generators is a one-line `uses:` edit. The
// training data (training_data.hpp), the requests and condition vectors
// (requests.hpp) and the models' sampler (models.hpp) are included with it.

#include <string>
#include <vector>

#include <facet/artifact.hpp>
#include <facet/context.hpp>
#include <facet/params.hpp>
#include <facet/step.hpp>

#include "requests.hpp"
#include "training_data.hpp"

namespace facet::generators {

/// The `requests` parameter: attribute requests, one comma-separated string each.
ParamSpec requests_spec();
/// The `per_request` parameter: faces drawn for each request.
ParamSpec per_request_spec();
/// The `emphasis` parameter of generators that turn requests into condition vectors (draw, gan).
ParamSpec emphasis_spec();
/// The outputs every generator declares.
std::vector<PortSpec> output_ports();

/// The inputs every generator declares (each uses what it needs).
std::vector<PortSpec> input_ports();

/// A grid of images [R, K, 3, H, W] in [0, 1] as PNG, each pixel `scale` x `scale`.
std::string grid_png(const torch::Tensor& images, int scale);

/// The `samples` artifact from faces [R, K, 3, S, S] in [0, 1]; also saves samples.png.
Artifact samples_artifact(const std::vector<std::string>& attribute_names,
                          const std::vector<std::vector<int>>& requests, const std::vector<std::string>& texts,
                          const torch::Tensor& faces, Context& ctx);

/// A generator step's outputs: its model (with `sampler: sample` and the
/// condition model added) and the samples for the `requests` parameter,
/// drawn by the ranks together (on ranks other than 0 the samples are empty).
Artifacts finish(Artifact model, const ConditionModel& conditions, const Params& params, Context& ctx);

/// On ranks other than 0 of a data-parallel step, a torch seed of their own
/// (after the model is built from the step's seed): their noise must not
/// repeat rank 0's. Rank 0 keeps the stream one process would draw.
void seed_noise_per_rank(Context& ctx);

}  // namespace facet::generators
