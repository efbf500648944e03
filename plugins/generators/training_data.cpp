#include "training_data.hpp"

#include <algorithm>

#include <torch/torch.h>

#include <facet/errors.hpp>

namespace facet::generators {

namespace {
constexpr std::int64_t kSlice = 2048;  // rows read at a time
}  // namespace

std::int64_t dataset_rows(const Artifacts& inputs) {
  const auto n = inputs.at("images").num_rows("images");
  const auto scored = inputs.at("attributes").num_rows("scores");
  if (scored != n) {
    throw Error(
        fmt::format("images has {} rows but attributes has {}: connect outputs of one dataset step", n, scored));
  }
  return n;
}

torch::Tensor split_rows(const Artifacts& inputs, const std::string& subset, std::int64_t n) {
  torch::Tensor rows;
  if (inputs.count("split") != 0) {
    rows = inputs.at("split").get(subset).to(torch::kInt64).contiguous();
  } else {
    rows = subset == "train" ? torch::arange(n, torch::kInt64) : torch::empty({0}, torch::kInt64);
  }
  if (subset == "train" && rows.numel() == 0) throw Error("the training split is empty");
  return rows;
}

torch::Tensor evenly_spaced_rows(const torch::Tensor& rows, std::int64_t count) {
  const auto picks = torch::linspace(0, static_cast<double>(rows.numel() - 1), std::min(count, rows.numel()));
  return rows.index_select(0, picks.round().to(torch::kInt64));
}

TrainingData::TrainingData(const Artifacts& inputs, const std::string& mode, std::int64_t size, Context& ctx) {
  const Artifact& images = inputs.at("images");
  const Artifact& attributes = inputs.at("attributes");
  conditions.attribute_names = attributes.attr_strings("attribute_names");
  const auto n = dataset_rows(inputs);
  // Faces at the generator's size, kept in memory as uint8.
  images_ = torch::empty({n, 3, size, size}, torch::kUInt8);
  for (std::int64_t begin = 0; begin < n; begin += kSlice) {
    const auto end = std::min(n, begin + kSlice);
    auto x = images.rows("images", begin, end).to(torch::kFloat32);
    if (x.size(2) != size || x.size(3) != size) {
      x = torch::nn::functional::interpolate(x, torch::nn::functional::InterpolateFuncOptions()
                                                    .size(std::vector<std::int64_t>{size, size})
                                                    .mode(torch::kArea));
    }
    images_.slice(0, begin, end).copy_(x.round().clamp(0, 255).to(torch::kUInt8));
  }
  const auto signs = attribute_signs(attributes);
  train_rows = split_rows(inputs, "train", n);
  test_rows = split_rows(inputs, "test", n);

  conditions.mode = mode;
  // The faces requests start from: training faces evenly spaced.
  starting_rows = evenly_spaced_rows(train_rows, kStartingFaces);
  if (mode != "none") conditions.base_signs = signs.index_select(0, starting_rows).to(torch::kInt8);
  if (mode == "attributes") {
    condition_ = signs;
  } else if (mode == "features") {
    if (inputs.count("features") == 0) {
      throw Error(
          "condition: features needs the 'features' input (fc7 from an extract step); or use condition: attributes");
    }
    const Artifact& features = inputs.at("features");
    if (features.num_rows("features") != n) {
      throw Error(fmt::format("features has {} rows, images {}: extract them from the same images",
                              features.num_rows("features"), n));
    }
    auto f = features.get("features").to(torch::kFloat32);
    const auto train = f.index_select(0, train_rows);
    condition_ = (f - train.mean(0)) / train.std(0).clamp_min(1e-6);
    conditions.base_features = condition_.index_select(0, starting_rows);
    // Per attribute, the mean of the training faces that have it and of those
    // that do not (zeros where either has fewer than two faces).
    const auto a = signs.size(1), width = condition_.size(1);
    conditions.positive_mean = torch::zeros({a, width});
    conditions.negative_mean = torch::zeros({a, width});
    const auto cond_train = condition_.index_select(0, train_rows);
    const auto signs_train = signs.index_select(0, train_rows);
    for (std::int64_t k = 0; k < a; ++k) {
      const auto positive = cond_train.index({signs_train.select(1, k) > 0});
      const auto negative = cond_train.index({signs_train.select(1, k) < 0});
      if (positive.size(0) >= 2 && negative.size(0) >= 2) {
        conditions.positive_mean[k] = positive.mean(0);
        conditions.negative_mean[k] = negative.mean(0);
      }
    }
  }
  ctx.info("{} faces at {}x{} ({} train, {} test), condition: {} ({} wide)", n, size, size, train_rows.numel(),
           test_rows.numel(), mode, condition_width());
}

torch::Tensor TrainingData::pixels(const torch::Tensor& rows) const {
  return images_.index_select(0, rows).to(torch::kFloat32) / 255.0f;
}

torch::Tensor TrainingData::condition(const torch::Tensor& rows) const {
  return condition_.defined() ? condition_.index_select(0, rows) : torch::Tensor();
}

torch::Tensor TrainingData::shuffled_train_rows(std::mt19937_64& rng) const {
  std::vector<std::int64_t> order(train_rows.data_ptr<std::int64_t>(),
                                  train_rows.data_ptr<std::int64_t>() + train_rows.numel());
  std::shuffle(order.begin(), order.end(), rng);
  return torch::tensor(order, torch::kInt64);
}

}  // namespace facet::generators
