#pragma once

// Attribute requests: parsing them, drawing held-out ones from real faces,
// and turning them into the condition vectors a generator draws from.

#include <random>
#include <string>
#include <vector>

#include <facet/artifact.hpp>

namespace facet::generators {

/// Attribute indices of each request; errors name the request.
std::vector<std::vector<int>> parse_requests(const std::vector<std::string>& requests,
                                             const std::vector<std::string>& attribute_names);

/// `count` requests drawn (from `seed`) from the attribute combinations of
/// real faces: each takes a random face of `rows` and up to `per_request` of
/// its present attributes at random, at most one per PubFig group and only
/// among `allowed` (the dataset's rendered attributes where it names them,
/// else every attribute). No request repeats; texts list the attributes in
/// the dataset's order.
std::vector<std::string> held_out_requests(const Artifact& attributes, const torch::Tensor& rows, std::int64_t count,
                                           std::int64_t per_request, std::uint64_t seed);

/// Rows of `signs` [K, A] (+1, -1, 0) that have the most of a request: its
/// attributes present and their exclusive siblings absent (one point each).
std::vector<std::int64_t> closest_rows(const torch::Tensor& signs, const std::vector<int>& attributes,
                                       const std::vector<std::string>& attribute_names);
/// `count` rows [count] drawn at random among the closest_rows.
torch::Tensor pick_closest(const torch::Tensor& signs, const std::vector<int>& attributes,
                           const std::vector<std::string>& attribute_names, std::int64_t count, std::mt19937_64& rng);

/// Turns attribute requests into condition vectors. Built from the training
/// data, saved into the model artifact and loaded back by the sampler.
struct ConditionModel {
  std::string mode = "none";  ///< features, attributes or none
  std::vector<std::string> attribute_names;
  torch::Tensor
      positive_mean;  ///< features: [A, W], normalised fc7 averaged over the training faces with each attribute
  torch::Tensor negative_mean;  ///< features: [A, W], the same over those without it
  torch::Tensor base_features;  ///< features: [K, W] of K training faces
  torch::Tensor base_signs;     ///< [K, A] int8 attribute signs of the same faces
  double emphasis = 0.0;        ///< extra moves along each requested attribute's direction (0 in models made before it)

  /// `count` condition vectors for a request (undefined when unconditioned),
  /// each from one of the K training faces that already have the most of the
  /// request (drawn at random among them), changed to have the requested
  /// attributes and none of their exclusive siblings. attributes:
  /// those set to +1, the siblings to -1; features: a face moves by
  /// mean(with) - mean(without) for each requested attribute it lacks, and
  /// back by that of each sibling it has. Then each requested attribute
  /// moves `emphasis` times further along its direction: features, by
  /// emphasis x (mean(with) - mean(without)); attributes, to 1 + 2 emphasis
  /// (the move from -1 to +1, emphasis times more).
  torch::Tensor request(const std::vector<int>& attributes, std::int64_t count, std::mt19937_64& rng) const;
  std::int64_t width() const;
  void save(Artifact& model) const;
  static ConditionModel load(const Artifact& model);
};

/// The attributes input's scores as signs [N, A]: +1, -1, 0 where unknown.
torch::Tensor attribute_signs(const Artifact& attributes);

}  // namespace facet::generators
