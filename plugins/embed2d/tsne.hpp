#pragma once

#include <cstdint>

#include <torch/torch.h>

#include "facet/context.hpp"

namespace facet::embed2d {

/// Settings of Barnes-Hut t-SNE (van der Maaten, 2014).
struct TsneOptions {
  double perplexity = 30;
  std::int64_t iterations = 1000;
  double theta = 0.5;        ///< Barnes-Hut accuracy: 0 is exact, larger is faster
  double exaggeration = 12;  ///< early exaggeration of P
  std::int64_t exaggeration_iters = 250;
  std::uint64_t seed = 0;
};

/// 2-D t-SNE of the rows of `x` [N, D]: sparse input affinities over the
/// 3 * perplexity nearest neighbours, repulsion by a Barnes-Hut quadtree, so
/// 10K points take seconds. `progress` (optional) advances once per iteration.
torch::Tensor tsne(const torch::Tensor& x, const TsneOptions& options, facet::ProgressBar* progress = nullptr);

/// The first `dims` principal components of the rows of `x` [N, D].
torch::Tensor pca(const torch::Tensor& x, std::int64_t dims);

}  // namespace facet::embed2d
