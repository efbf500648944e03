#pragma once

#include <vector>

#include <torch/torch.h>

#include "facet/artifact.hpp"

namespace facet::vggface {

/// The layers that replace fc8: optional shared fully connected layers
/// (trained from scratch), then one softmax head per label column.
struct AttributeHeadsOptions {
  TORCH_ARG(std::int64_t, in_features) = 4096;
  /// Classes of each head (2 for a binary attribute, k+1 for a group of k).
  TORCH_ARG(std::vector<std::int64_t>, num_classes);
  /// Widths of shared fully connected layers before the heads (ReLU, dropout).
  TORCH_ARG(std::vector<std::int64_t>, shared_fc);
  TORCH_ARG(double, dropout) = 0.5;

 public:  // TORCH_ARG leaves the section private
  void save(facet::Artifact& artifact) const;
  static AttributeHeadsOptions load(const facet::Artifact& artifact);
};

class AttributeHeadsImpl : public torch::nn::Module {
 public:
  explicit AttributeHeadsImpl(const AttributeHeadsOptions& options);
  /// Logits of all heads side by side: [B, sum(num_classes)].
  torch::Tensor forward(torch::Tensor features);
  const AttributeHeadsOptions& options() const { return options_; }
  /// Makes head `head` always predict class `cls` (its weights zeroed).
  void set_constant(std::int64_t head, std::int64_t cls);

 private:
  AttributeHeadsOptions options_;
  torch::nn::ModuleList shared_;
  torch::nn::Linear heads_{nullptr};  // all heads as one matrix: one GEMM instead of 73
  torch::nn::Dropout dropout_{nullptr};
};
TORCH_MODULE(AttributeHeads);

/// Sum over heads of the mean cross-entropy of the known labels (label -1 is
/// unknown: it adds no loss and no gradient). `class_weights` (optional, one
/// weight per class, heads side by side) reweights imbalanced attributes.
/// `denominators` (optional, one per head, from head_loss_denominators):
/// divide by these instead of the batch's own counts, so that ranks that each
/// hold part of a batch add up to the loss of the whole batch.
torch::Tensor masked_heads_loss(const torch::Tensor& logits, const torch::Tensor& labels,
                                const std::vector<std::int64_t>& num_classes, const torch::Tensor& class_weights = {},
                                const torch::Tensor& denominators = {});

/// Per head, the count (or total class weight) of the known labels in `labels`: [H].
torch::Tensor head_loss_denominators(const torch::Tensor& labels, const std::vector<std::int64_t>& num_classes,
                                     const torch::Tensor& class_weights = {});

/// Predicted class of every head: [B, H].
torch::Tensor predict_classes(const torch::Tensor& logits, const std::vector<std::int64_t>& num_classes);

/// Predicted class of every head and its softmax probability: [B, H] int64, [B, H] float32.
std::pair<torch::Tensor, torch::Tensor> classes_and_confidence(const torch::Tensor& logits,
                                                               const std::vector<std::int64_t>& num_classes);

/// The `predictions` artifact of extract and heads.
facet::Artifact predictions_artifact(const torch::Tensor& classes, const torch::Tensor& confidence,
                                     const std::vector<std::int64_t>& num_classes,
                                     const std::vector<std::string>& head_names);

/// Balanced class weights n / (k * n_c) per head from training labels (-1 ignored).
torch::Tensor balanced_class_weights(const torch::Tensor& labels, const std::vector<std::int64_t>& num_classes);

}  // namespace facet::vggface
