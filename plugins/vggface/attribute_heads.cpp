#include <vggface/attribute_heads.hpp>

#include <numeric>

#include "facet/errors.hpp"

namespace facet::vggface {

void AttributeHeadsOptions::save(facet::Artifact& a) const {
  a.set_attr("heads_in_features", in_features());
  std::vector<std::string> classes, shared;
  for (auto c : num_classes()) classes.push_back(std::to_string(c));
  for (auto w : shared_fc()) shared.push_back(std::to_string(w));
  a.set_attr("heads_num_classes", classes);
  a.set_attr("heads_shared_fc", shared);
  a.set_attr("heads_dropout", dropout());
}

AttributeHeadsOptions AttributeHeadsOptions::load(const facet::Artifact& a) {
  std::vector<std::int64_t> classes, shared;
  for (const auto& c : a.attr_strings("heads_num_classes")) classes.push_back(std::stoll(c));
  for (const auto& w : a.attr_strings("heads_shared_fc")) shared.push_back(std::stoll(w));
  return AttributeHeadsOptions()
      .in_features(a.attr_int("heads_in_features"))
      .num_classes(classes)
      .shared_fc(shared)
      .dropout(a.attr_float("heads_dropout"));
}

AttributeHeadsImpl::AttributeHeadsImpl(const AttributeHeadsOptions& options) : options_(options) {
  std::int64_t in = options.in_features();
  shared_ = register_module("shared", torch::nn::ModuleList());
  for (auto width : options.shared_fc()) {
    shared_->push_back(torch::nn::Linear(in, width));
    in = width;
  }
  const auto total = std::accumulate(options.num_classes().begin(), options.num_classes().end(), std::int64_t{0});
  heads_ = register_module("heads", torch::nn::Linear(in, total));
  dropout_ = register_module("dropout", torch::nn::Dropout(options.dropout()));
}

torch::Tensor AttributeHeadsImpl::forward(torch::Tensor x) {
  for (const auto& layer : *shared_) x = dropout_->forward(torch::relu(layer->as<torch::nn::Linear>()->forward(x)));
  return heads_->forward(x);
}

void AttributeHeadsImpl::set_constant(std::int64_t head, std::int64_t cls) {
  torch::NoGradGuard no_grad;
  const auto& k = options_.num_classes();
  const auto offset = std::accumulate(k.begin(), k.begin() + head, std::int64_t{0});
  heads_->weight.slice(0, offset, offset + k[static_cast<size_t>(head)]).zero_();
  heads_->bias.slice(0, offset, offset + k[static_cast<size_t>(head)]).zero_();
  heads_->bias[offset + cls].fill_(10.0);  // a softmax probability of ~1 for this class
}

torch::Tensor head_loss_denominators(const torch::Tensor& labels, const std::vector<std::int64_t>& num_classes,
                                     const torch::Tensor& class_weights) {
  const auto known = labels >= 0;
  if (!class_weights.defined()) return known.sum(0).to(torch::kFloat32);
  std::vector<torch::Tensor> per_head;
  std::int64_t offset = 0;
  for (size_t h = 0; h < num_classes.size(); ++h) {
    const auto k = num_classes[h];
    const auto target = labels.select(1, static_cast<std::int64_t>(h));
    const auto w = class_weights.slice(0, offset, offset + k).to(labels.device());
    per_head.push_back((w.index_select(0, target.clamp_min(0)) * known.select(1, static_cast<std::int64_t>(h))).sum());
    offset += k;
  }
  return torch::stack(per_head).to(torch::kFloat32);
}

torch::Tensor masked_heads_loss(const torch::Tensor& logits, const torch::Tensor& labels,
                                const std::vector<std::int64_t>& num_classes, const torch::Tensor& class_weights,
                                const torch::Tensor& denominators) {
  namespace F = torch::nn::functional;
  // Divided by the known labels' count (or total weight) per head: the mean
  // without a host sync per head.
  const auto divide_by =
      (denominators.defined() ? denominators : head_loss_denominators(labels, num_classes, class_weights))
          .to(logits.options())
          .clamp_min(1e-12);
  auto total = torch::zeros({}, logits.options());
  std::int64_t offset = 0;
  for (size_t h = 0; h < num_classes.size(); ++h) {
    const auto k = num_classes[h];
    const auto target = labels.select(1, static_cast<std::int64_t>(h));
    // Summed over known labels: ignore_index drops the unknown -1.
    auto options = F::CrossEntropyFuncOptions().ignore_index(-1).reduction(torch::kSum);
    if (class_weights.defined()) options.weight(class_weights.slice(0, offset, offset + k));
    total = total + F::cross_entropy(logits.slice(1, offset, offset + k), target, options) /
                        divide_by[static_cast<std::int64_t>(h)];
    offset += k;
  }
  return total;
}

torch::Tensor predict_classes(const torch::Tensor& logits, const std::vector<std::int64_t>& num_classes) {
  std::vector<torch::Tensor> columns;
  std::int64_t offset = 0;
  for (auto k : num_classes) {
    columns.push_back(logits.slice(1, offset, offset + k).argmax(1));
    offset += k;
  }
  return torch::stack(columns, 1);
}

std::pair<torch::Tensor, torch::Tensor> classes_and_confidence(const torch::Tensor& logits,
                                                               const std::vector<std::int64_t>& num_classes) {
  std::vector<torch::Tensor> classes, confidence;
  std::int64_t offset = 0;
  for (auto k : num_classes) {
    const auto [best, index] = torch::softmax(logits.slice(1, offset, offset + k), 1).max(1);
    classes.push_back(index);
    confidence.push_back(best);
    offset += k;
  }
  return {torch::stack(classes, 1).cpu(), torch::stack(confidence, 1).to(torch::kFloat32).cpu()};
}

facet::Artifact predictions_artifact(const torch::Tensor& classes, const torch::Tensor& confidence,
                                     const std::vector<std::int64_t>& num_classes,
                                     const std::vector<std::string>& head_names) {
  facet::Artifact out;
  out.set("classes", classes);
  out.set("confidence", confidence);
  out.set("num_classes", torch::tensor(num_classes, torch::kInt64));
  out.set_attr("head_names", head_names);
  return out;
}

torch::Tensor balanced_class_weights(const torch::Tensor& labels, const std::vector<std::int64_t>& num_classes) {
  std::vector<torch::Tensor> weights;
  for (size_t h = 0; h < num_classes.size(); ++h) {
    const auto k = num_classes[h];
    const auto target = labels.select(1, static_cast<std::int64_t>(h));
    const auto known = target.index({target >= 0});
    const auto counts = torch::bincount(known, {}, k).to(torch::kFloat32);
    const double n = static_cast<double>(known.numel());
    // Classes never seen get weight 1: they cannot contribute to the loss anyway.
    weights.push_back(torch::where(counts > 0, n / (static_cast<double>(k) * counts), torch::ones_like(counts)));
  }
  return torch::cat(weights);
}

}  // namespace facet::vggface
