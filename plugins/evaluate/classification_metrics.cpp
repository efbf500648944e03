#include "classification_metrics.hpp"

namespace facet::evaluate {

ColumnScore score_column(const torch::Tensor& truth, const torch::Tensor& predicted, std::int64_t num_classes,
                         std::string name) {
  ColumnScore s;
  s.name = std::move(name);
  const auto known = truth >= 0;
  const auto y = truth.index({known}), p = predicted.index({known});
  s.known = y.numel();
  if (s.known == 0) return s;
  s.accuracy = (y == p).to(torch::kFloat64).mean().item<double>();
  const auto counts = torch::bincount(y, {}, num_classes).to(torch::kFloat64);
  s.majority = counts.max().item<double>() / static_cast<double>(s.known);
  double recall_sum = 0;
  int present = 0;
  for (std::int64_t c = 0; c < num_classes; ++c) {
    const auto mine = y == c;
    const auto n = mine.sum().item<std::int64_t>();
    if (n == 0) continue;
    recall_sum += (p.index({mine}) == c).to(torch::kFloat64).mean().item<double>();
    ++present;
  }
  s.balanced_accuracy = recall_sum / present;
  return s;
}

torch::Tensor attribute_column(const torch::Tensor& group_classes, std::int64_t member) {
  return torch::where(group_classes < 0, group_classes, (group_classes == member).to(torch::kInt64));
}

}  // namespace facet::evaluate
