#pragma once

// Reading the rows of a stored tensor in batches, with bounded memory: the
// pattern every step that trains on or runs over a dataset needs.

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "facet/artifact.hpp"
#include "facet/export.hpp"

namespace facet {

/// A 1-D integer tensor (row indices) as a vector.
FACET_API std::vector<std::int64_t> to_rows(const torch::Tensor& t);

/// Reads the rows of one subset of a stored tensor in batches. Rows are read
/// in blocks of consecutive rows (one slice each), so memory stays bounded
/// whatever the dataset size; shuffling permutes the blocks and the rows
/// within them.
class FACET_API RowBatches {
 public:
  RowBatches(const Artifact& source, std::string tensor, std::vector<std::int64_t> rows,
             std::int64_t block_rows = 4096);
  using Visit = std::function<void(const torch::Tensor& data, const torch::Tensor& rows)>;
  void for_each(std::int64_t batch_size, bool shuffle, std::mt19937_64& rng, const Visit& visit) const;
  std::int64_t size() const { return static_cast<std::int64_t>(rows_.size()); }
  const std::vector<std::int64_t>& rows() const { return rows_; }

 private:
  const Artifact& source_;
  std::string tensor_;
  std::vector<std::int64_t> rows_;  // sorted
  std::int64_t block_rows_;
};

}  // namespace facet
