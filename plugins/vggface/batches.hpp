#pragma once

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "facet/artifact.hpp"

namespace facet::vggface {

/// How uint8 images become network input.
struct Preprocessing {
  std::string mode = "unit";     ///< unit: RGB scaled to [-1, 1]; vggface: BGR minus VGG-Face's mean pixel
  std::int64_t input_size = 64;  ///< images of another size are resized (bilinear)
  bool augment = false;          ///< random crop (4 px padding at 64 px, scaled) and horizontal flip
};

/// A 1-D integer tensor (row indices) as a vector.
std::vector<std::int64_t> to_rows(const torch::Tensor& t);

/// uint8 [B, 3, S, S] RGB to float network input.
torch::Tensor preprocess(const torch::Tensor& images, const Preprocessing& p, std::mt19937_64& rng);

/// Reads the rows of one subset of a stored tensor in batches. Rows are read
/// in blocks of consecutive rows (one slice each), so memory stays bounded
/// whatever the dataset size; shuffling permutes the blocks and the rows
/// within them.
class RowBatches {
 public:
  RowBatches(const facet::Artifact& source, std::string tensor, std::vector<std::int64_t> rows,
             std::int64_t block_rows = 4096);
  using Visit = std::function<void(const torch::Tensor& data, const torch::Tensor& rows)>;
  void for_each(std::int64_t batch_size, bool shuffle, std::mt19937_64& rng, const Visit& visit) const;
  std::int64_t size() const { return static_cast<std::int64_t>(rows_.size()); }
  const std::vector<std::int64_t>& rows() const { return rows_; }

 private:
  const facet::Artifact& source_;
  std::string tensor_;
  std::vector<std::int64_t> rows_;  // sorted
  std::int64_t block_rows_;
};

}  // namespace facet::vggface
