#pragma once

// Numbers that judge generated faces with the trained attribute classifier:
// the Frechet distance between two sets of features, and how often the
// classifier finds a requested attribute.

#include <torch/torch.h>

namespace facet::evaluate {

/// Frechet distance between Gaussians fitted to feature rows a [N, D] and
/// b [M, D]: |mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a^1/2 S_b S_a^1/2)^1/2),
/// computed in float64 through symmetric eigendecompositions.
double frechet_distance(const torch::Tensor& a, const torch::Tensor& b);

/// Kernel Inception Distance (Binkowski et al., 2018) between feature rows
/// a [N, D] and b [M, D]: the unbiased estimator of the squared MMD under
/// the kernel k(x, y) = (x.y / D + 1)^3, averaged over `subsets` pairs of
/// random subsets of min(N, M, subset_size) rows each (drawn from `seed`).
/// Unlike the Frechet distance it has no bias at small sample sizes: its
/// expectation is 0 when a and b come from one distribution.
struct Kid {
  double mean = 0;    ///< over the subsets
  double spread = 0;  ///< standard deviation over the subsets
  std::int64_t subset_size = 0;
};
Kid kernel_distance(const torch::Tensor& a, const torch::Tensor& b, std::uint64_t seed, int subsets = 100,
                    std::int64_t subset_size = 1000);

/// Mean Euclidean distance over all pairs of rows of x [N, D] (0 for N < 2).
double mean_pairwise_distance(const torch::Tensor& x);

/// Where the classifier reports attribute `attribute` (an index into PubFig's
/// 73): which head, and which class of it means "present". Heads are either
/// PubFig's 73 binary heads or its 42 group heads.
struct HeadClass {
  int head = -1;
  int cls = -1;
};
HeadClass head_class_of(int attribute, std::int64_t num_heads);

}  // namespace facet::evaluate
