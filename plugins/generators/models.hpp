#pragma once

// Each generator's model artifact: the architecture as attributes beside the
// weights, written by its step and rebuilt by the sampler.

#include <functional>
#include <random>
#include <vector>

#include <facet/artifact.hpp>
#include <facet/group.hpp>

#include "draw/draw_model.hpp"
#include "gan/gan_model.hpp"
#include "invert/invert_model.hpp"
#include "requests.hpp"

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

/// The generator behind a model artifact (its `architecture` attribute),
/// rebuilt once to draw faces for requests.
class FaceSampler {
 public:
  explicit FaceSampler(const Artifact& model);
  FaceSampler(const FaceSampler&) = delete;  // its generator refers to it
  FaceSampler& operator=(const FaceSampler&) = delete;
  /// `n` faces [n, 3, S, S] in [0, 1] for `request`, drawing from `rng` and torch's generator.
  torch::Tensor faces(const std::vector<int>& request, std::int64_t n, std::mt19937_64& rng);

 private:
  ConditionModel conditions_;
  std::function<torch::Tensor(const std::vector<int>&, std::int64_t, std::mt19937_64&)> draw_;
};

/// `per_request` faces for each request, [R, K, 3, S, S] in [0, 1]. Each
/// request draws from a seed of its own (`seed` and its position), so the
/// ranks of `group` share the requests out and rank 0 gets what one process
/// draws; the other ranks get an undefined tensor. Every generator step and
/// `sample` draw through this.
torch::Tensor sample_faces(const Artifact& model, const std::vector<std::vector<int>>& requests,
                           std::int64_t per_request, std::uint64_t seed, Group& group);

}  // namespace facet::generators
