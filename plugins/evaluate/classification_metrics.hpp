#pragma once

#include <string>
#include <vector>

#include <torch/torch.h>

namespace facet::evaluate {

/// Accuracy figures of one label column (a head or an attribute).
struct ColumnScore {
  std::string name;
  double accuracy = 0;           ///< fraction of known labels predicted right
  double balanced_accuracy = 0;  ///< mean recall over the classes present
  double majority = 0;           ///< accuracy of always predicting the most common class
  std::int64_t known = 0;        ///< labels that were not unknown (-1)
};

/// Scores of one column; unknown labels (-1) are left out.
ColumnScore score_column(const torch::Tensor& truth, const torch::Tensor& predicted, std::int64_t num_classes,
                         std::string name);

/// Per-attribute binary columns from group heads: attribute k of a group
/// (1-based class k) is present when the class is k. Unknown stays unknown.
torch::Tensor attribute_column(const torch::Tensor& group_classes, std::int64_t member);

}  // namespace facet::evaluate
