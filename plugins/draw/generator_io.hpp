#pragma once

// What every generator step shares (draw now; gan and invert use the same
// contract): the training data and its condition vectors, attribute
// requests, and the outputs `model` and `samples`, so swapping generators is
// a one-line `uses:` edit.

#include <random>
#include <string>
#include <vector>

#include <facet/artifact.hpp>
#include <facet/context.hpp>
#include <facet/params.hpp>
#include <facet/step.hpp>

namespace facet::generators {

/// The `requests` parameter: attribute requests, one comma-separated string each.
ParamSpec requests_spec();
/// The outputs every generator declares.
std::vector<PortSpec> output_ports();

/// Attribute indices of each request; errors name the request.
std::vector<std::vector<int>> parse_requests(const std::vector<std::string>& requests,
                                             const std::vector<std::string>& attribute_names);

/// Faces (resized to the generator's size) and their condition vectors.
class TrainingData {
 public:
  /// `mode`: features, attributes or none.
  TrainingData(const Artifacts& inputs, const std::string& mode, std::int64_t size, Context& ctx);

  std::int64_t condition_width() const { return condition_.defined() ? condition_.size(1) : 0; }
  /// Images of `rows` as float [B, 3, size, size] in [0, 1].
  torch::Tensor pixels(const torch::Tensor& rows) const;
  /// Condition vectors of `rows` (undefined when unconditioned).
  torch::Tensor condition(const torch::Tensor& rows) const;
  torch::Tensor shuffled_train_rows(std::mt19937_64& rng) const;
  /// `count` condition vectors for a request: attributes: requested ones +1,
  /// their exclusive-group siblings -1, the rest as in random training faces;
  /// features: the mean of the requested attributes' Gaussians over fc7.
  torch::Tensor request_condition(const std::vector<int>& request, std::int64_t count, std::mt19937_64& rng) const;
  /// Stores what request_condition needs in the model artifact.
  void save_condition_model(Artifact& model) const;

  std::vector<std::string> attribute_names;
  torch::Tensor train_rows, test_rows;

 private:
  std::string mode_;
  torch::Tensor images_;      ///< uint8 [N, 3, size, size]
  torch::Tensor signs_;       ///< [N, A]: +1, -1, 0 unknown
  torch::Tensor condition_;   ///< [N, W] (normalised features, or signs)
  torch::Tensor feature_mean_, feature_std_;        ///< features mode: the normalisation
  torch::Tensor gaussian_mean_, gaussian_std_;      ///< features mode: [A, W] over positive training faces
};

/// A grid of images [R, K, 3, H, W] in [0, 1] as PNG, each pixel `scale` x `scale`.
std::string grid_png(const torch::Tensor& images, int scale);

/// The two outputs from faces [R, K, 3, S, S] in [0, 1]; also saves samples.png.
Artifacts outputs(const Artifact& model, const std::vector<std::vector<int>>& requests,
                  const std::vector<std::string>& texts, const torch::Tensor& faces, Context& ctx);

}  // namespace facet::generators
