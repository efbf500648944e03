#include "generation_judge.hpp"

#include <numeric>

#include <fmt/format.h>

#include <facet/row_batches.hpp>
#include <vggface/attribute_heads.hpp>
#include <vggface/preprocessing.hpp>
#include "facet/errors.hpp"
#include "facet/pubfig.hpp"
#include "generation_metrics.hpp"

namespace facet::evaluate {

Judge::Judge(const facet::Artifact& model, const std::string& what, std::uint64_t seed)
    : net_(vggface::load_attribute_net(model, what)),
      prep_{model.attr_string("preprocessing"), net_->backbone->options().input_size(), false},
      rng_(seed) {
  net_->eval();
}

Judge::Verdict Judge::operator()(const torch::Tensor& images) {
  torch::NoGradGuard no_grad;
  const auto num_classes = net_->heads->options().num_classes();
  std::vector<torch::Tensor> features, classes;
  for (std::int64_t begin = 0; begin < images.size(0); begin += 256) {
    const auto x = vggface::preprocess(images.slice(0, begin, std::min(images.size(0), begin + 256)), prep_, rng_);
    const auto fc7 = net_->backbone->forward(x, "fc7");
    features.push_back(fc7);
    classes.push_back(vggface::predict_classes(net_->heads->forward(fc7), num_classes));
  }
  if (features.empty()) return {torch::zeros({0, 1}), torch::zeros({0, 1}, torch::kInt64)};
  return {torch::cat(features), torch::cat(classes)};
}

torch::Tensor Judge::finds(const torch::Tensor& classes, const std::string& name) const {
  const int attribute = facet::pubfig::index_of(name);
  if (attribute < 0) throw facet::Error(fmt::format("'{}' is not a PubFig attribute the classifier knows", name));
  const auto hc = head_class_of(attribute, static_cast<std::int64_t>(net_->heads->options().num_classes().size()));
  return classes.select(1, hc.head).eq(hc.cls);
}

std::vector<std::int64_t> subset_rows(const facet::Artifact* split, const std::string& subset, std::int64_t n) {
  if (subset != "all" && split != nullptr) return to_rows(split->get(subset));
  std::vector<std::int64_t> rows(static_cast<size_t>(n));
  std::iota(rows.begin(), rows.end(), 0);
  return rows;
}

std::vector<std::int64_t> evenly_spaced(const std::vector<std::int64_t>& rows, std::int64_t want) {
  want = std::min<std::int64_t>(want, static_cast<std::int64_t>(rows.size()));
  std::vector<std::int64_t> picked;
  for (std::int64_t k = 0; k < want; ++k)
    picked.push_back(rows[static_cast<size_t>(k * static_cast<std::int64_t>(rows.size()) / want)]);
  return picked;
}

torch::Tensor resized_faces(const facet::Artifact& images, const std::vector<std::int64_t>& rows, std::int64_t size) {
  if (rows.empty()) return torch::zeros({0, 3, size, size}, torch::kUInt8);
  std::vector<torch::Tensor> picked;
  for (auto row : rows) picked.push_back(images.rows("images", row, row + 1));
  auto x = torch::cat(picked).to(torch::kFloat32);
  if (x.size(2) != size) {
    x = torch::nn::functional::interpolate(
        x,
        torch::nn::functional::InterpolateFuncOptions().size(std::vector<std::int64_t>{size, size}).mode(torch::kArea));
  }
  return x.round().clamp(0, 255).to(torch::kUInt8);
}

}  // namespace facet::evaluate
