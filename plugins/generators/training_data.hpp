#pragma once

// The faces a generator trains on, their condition vectors, and the training
// faces its requests start from.

#include <random>
#include <string>

#include <facet/artifact.hpp>
#include <facet/context.hpp>

#include "requests.hpp"

namespace facet::generators {

/// Training faces kept in a generator's model: requests start from them.
constexpr std::int64_t kStartingFaces = 4096;

/// At most `count` of `rows` [K], evenly spaced (the first and the last included).
torch::Tensor evenly_spaced_rows(const torch::Tensor& rows, std::int64_t count);
/// Rows of the images and attributes inputs; an error when they differ.
std::int64_t dataset_rows(const Artifacts& inputs);
/// Rows of `subset` (train or test) from the split input; without one, every
/// row trains and none tests. An empty training split is an error.
torch::Tensor split_rows(const Artifacts& inputs, const std::string& subset, std::int64_t n);

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

  torch::Tensor train_rows, test_rows;
  /// The kStartingFaces training rows (evenly spaced) whose faces requests start from.
  torch::Tensor starting_rows;
  ConditionModel conditions;  ///< also holds the dataset's attribute names

 private:
  torch::Tensor images_;     ///< uint8 [N, 3, size, size]
  torch::Tensor condition_;  ///< [N, W] (normalised features, or signs)
};

}  // namespace facet::generators
