#pragma once

// Each generator's model artifact: the architecture as attributes beside the
// weights, written by its step and rebuilt by the sampler.

#include <facet/artifact.hpp>

#include "draw/draw_model.hpp"
#include "gan/gan_model.hpp"
#include "invert/invert_model.hpp"

namespace facet::generators {

Artifact draw_artifact(draw::Draw& net);
draw::Draw load_draw(const Artifact& model);

Artifact gan_artifact(gan::Gan& net);
gan::Gan load_gan(const Artifact& model);

/// An inversion model: the classifier it optimises through (kept inside the
/// model, so sampling needs nothing else), the options and the Gaussians.
struct Inversion {
  vggface::AttributeNet net;
  std::string preprocessing;
  invert::InvertOptions options;
  invert::LayerGaussians gaussians;
};
Artifact invert_artifact(const Artifact& classifier, const invert::InvertOptions& options,
                         const invert::LayerGaussians& gaussians);
Inversion load_invert(const Artifact& model);

/// The "copy the closest training face" baseline: the faces requests start
/// from (uint8 [K, 3, S, S]); their signs are the condition model's.
Artifact nearest_artifact(const torch::Tensor& faces);

}  // namespace facet::generators
