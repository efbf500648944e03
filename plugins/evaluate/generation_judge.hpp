#pragma once

// What evaluate_generation needs to judge faces: an attribute classifier
// that returns fc7 features and head classes of uint8 images, and the real
// faces it compares generated ones with.

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <torch/torch.h>

#include <vggface/attribute_net.hpp>
#include <vggface/preprocessing.hpp>
#include "facet/artifact.hpp"

namespace facet::evaluate {

/// A trained attribute classifier (a vggface model) used as a judge.
class Judge {
 public:
  /// `what` names the input in errors; `seed` drives the (unused without
  /// augmentation) preprocessing generator.
  Judge(const facet::Artifact& model, const std::string& what, std::uint64_t seed);

  struct Verdict {
    torch::Tensor fc7;      ///< [B, W] float32
    torch::Tensor classes;  ///< [B, H] int64, each head's predicted class
  };
  /// uint8 images [B, 3, s, s], resized to the network's input.
  Verdict operator()(const torch::Tensor& images);
  /// Whether the head of PubFig attribute `name` reports it present, for each row of `classes` [B, H].
  torch::Tensor finds(const torch::Tensor& classes, const std::string& name) const;

 private:
  vggface::AttributeNet net_;
  vggface::Preprocessing prep_;
  std::mt19937_64 rng_;
};

/// Rows of the `subset` ("all" or a name of the split input) of the images input.
std::vector<std::int64_t> subset_rows(const facet::Artifact* split, const std::string& subset, std::int64_t n);
/// At most `want` of `rows`, evenly spaced.
std::vector<std::int64_t> evenly_spaced(const std::vector<std::int64_t>& rows, std::int64_t want);
/// Images of `rows` resized to `size` (area interpolation), uint8.
torch::Tensor resized_faces(const facet::Artifact& images, const std::vector<std::int64_t>& rows, std::int64_t size);

}  // namespace facet::evaluate
