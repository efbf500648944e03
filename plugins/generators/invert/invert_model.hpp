#pragma once

// Feature inversion, the final DeepFace report's generator: a diagonal
// Gaussian per attribute over one layer of the trained attribute classifier
// (fitted on the training faces that have the attribute), and faces
// optimised, pixel by pixel, until that layer matches the requested
// attributes' target, with jitter, blur and total variation keeping them
// image-like.

#include <random>
#include <string>
#include <vector>

#include <torch/torch.h>

#include <facet/artifact.hpp>
#include <facet/context.hpp>

#include <vggface/attribute_net.hpp>

namespace facet::generators::invert {

struct InvertOptions {
  /// The classifier layer whose activations are matched (conv3_1 in the report).
  TORCH_ARG(std::string, layer) = "conv3_1";
  /// Width and height of the optimised faces (upsampled to the classifier's input).
  TORCH_ARG(std::int64_t, size) = 32;
  TORCH_ARG(std::int64_t, iterations) = 200;
  /// Adam step on pixel values in [0, 1].
  TORCH_ARG(double, lr) = 0.05;
  /// Weight of the total variation (mean squared neighbour difference).
  TORCH_ARG(double, tv_weight) = 1.0;
  /// Largest random shift, in pixels, applied before each forward pass.
  TORCH_ARG(std::int64_t, jitter) = 1;
  /// A Gaussian blur of the faces every this many iterations (0: never).
  TORCH_ARG(std::int64_t, blur_every) = 4;
  TORCH_ARG(double, blur_sigma) = 0.5;
  /// What the faces start from: "faces" (the training faces with the most of the request) or "mean"
  /// (the mean training face plus noise).
  TORCH_ARG(std::string, start) = "faces";
  /// Standard deviation of the noise added to the starting faces.
  TORCH_ARG(double, start_noise) = 0.02;
};

/// Per-attribute statistics of one layer over the training faces.
struct LayerGaussians {
  torch::Tensor mean, std;   ///< [A, D] over the faces that have each attribute
  torch::Tensor count;       ///< [A] int64: how many faces each Gaussian was fitted on
  torch::Tensor spread;      ///< [D] the standard deviation over all training faces
  torch::Tensor mean_face;   ///< [3, S, S] the mean training face in [0, 1]
  torch::Tensor faces;       ///< [K, 3, S, S] uint8: training faces to start from
  torch::Tensor face_signs;  ///< [K, A] int8: their attribute signs (a request starts from the closest)

  /// A request's target and the weight of each unit, both [D]: the mean of
  /// the requested attributes' means, each weighted by the precision its
  /// Gaussian adds over all training faces (1/std_a^2 - 1/spread^2, or 0).
  /// An attribute leads on the units it makes certain; units no requested
  /// attribute constrains get no weight, so the rest of the face is left as
  /// it is. An attribute no training face has is an error.
  std::pair<torch::Tensor, torch::Tensor> target(const std::vector<int>& attributes,
                                                 const std::vector<std::string>& attribute_names) const;
};

/// Fits the Gaussians on `rows` of `images` (uint8 [N, 3, s, s]) whose
/// attribute `signs` [N, A] are +1, in batches so memory stays bounded, and
/// keeps up to `keep` random training faces (seeded by `seed`) to start from.
LayerGaussians fit(vggface::AttributeNet& net, const std::string& preprocessing, const InvertOptions& options,
                   const Artifact& images, const torch::Tensor& signs, const torch::Tensor& rows, std::int64_t keep,
                   std::uint64_t seed, Context& ctx);

/// `count` faces [count, 3, S, S] in [0, 1] whose `layer` activations are
/// pulled towards the target of `attributes`.
torch::Tensor invert_faces(vggface::AttributeNet& net, const std::string& preprocessing, const InvertOptions& options,
                           const LayerGaussians& gaussians, const std::vector<int>& attributes,
                           const std::vector<std::string>& attribute_names, std::int64_t count, std::mt19937_64& rng);

/// Total variation: the mean squared difference of neighbouring pixels.
torch::Tensor total_variation(const torch::Tensor& images);
/// A separable Gaussian blur of [B, C, H, W] (3-sigma kernel, replicated edges).
torch::Tensor gaussian_blur(const torch::Tensor& images, double sigma);

}  // namespace facet::generators::invert
