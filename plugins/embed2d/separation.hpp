#pragma once

#include <cstdint>

#include <torch/torch.h>

namespace facet::embed2d {

/// How well a binary attribute clusters in a space: leave-one-out k-nearest
/// neighbour balanced accuracy (mean recall of the two classes) of the
/// attribute in the rows of `x` [N, D]. 0.5 is chance whatever the class
/// balance; 1.0 means every point's neighbours share its label. Rows with
/// an unknown label (-1) are left out.
double knn_separation(const torch::Tensor& x, const torch::Tensor& labels, std::int64_t k);

}  // namespace facet::embed2d
