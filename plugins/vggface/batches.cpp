#include "batches.hpp"

#include <algorithm>

namespace facet::vggface {

namespace {
// VGG-Face's mean pixel, in BGR order.
constexpr float kMeanB = 93.5940f, kMeanG = 104.7624f, kMeanR = 129.1863f;
constexpr std::int64_t kPadAt64 = 4;  // crop padding at 64 px, scaled with the input size
}  // namespace

std::vector<std::int64_t> to_rows(const torch::Tensor& t) {
  const auto c = t.to(torch::kInt64).contiguous();
  return {c.data_ptr<std::int64_t>(), c.data_ptr<std::int64_t>() + c.numel()};
}

torch::Tensor preprocess(const torch::Tensor& images, const Preprocessing& p, std::mt19937_64& rng) {
  auto x = images.to(torch::kFloat32);
  if (x.size(2) != p.input_size || x.size(3) != p.input_size) {
    x = torch::nn::functional::interpolate(x, torch::nn::functional::InterpolateFuncOptions()
                                                  .size(std::vector<std::int64_t>{p.input_size, p.input_size})
                                                  .mode(torch::kBilinear)
                                                  .align_corners(false));
  }
  if (p.mode == "vggface") {
    x = x.flip(1) - torch::tensor({kMeanB, kMeanG, kMeanR}).view({1, 3, 1, 1});
  } else {
    x = x / 127.5f - 1.0f;
  }
  if (!p.augment) return x;
  const std::int64_t pad = std::max<std::int64_t>(1, kPadAt64 * p.input_size / 64);
  auto padded = torch::nn::functional::pad(
      x, torch::nn::functional::PadFuncOptions({pad, pad, pad, pad}).mode(torch::kReplicate));
  std::uniform_int_distribution<std::int64_t> offset(0, 2 * pad);
  std::bernoulli_distribution flip(0.5);
  std::vector<torch::Tensor> out;
  for (std::int64_t i = 0; i < x.size(0); ++i) {
    const auto dy = offset(rng), dx = offset(rng);
    auto crop = padded[i].slice(1, dy, dy + p.input_size).slice(2, dx, dx + p.input_size);
    out.push_back(flip(rng) ? crop.flip(2) : crop);
  }
  return torch::stack(out);
}

RowBatches::RowBatches(const facet::Artifact& source, std::string tensor, std::vector<std::int64_t> rows,
                       std::int64_t block_rows)
    : source_(source), tensor_(std::move(tensor)), rows_(std::move(rows)), block_rows_(block_rows) {
  std::sort(rows_.begin(), rows_.end());
}

void RowBatches::for_each(std::int64_t batch_size, bool shuffle, std::mt19937_64& rng, const Visit& visit) const {
  // Group the wanted rows by block of the stored tensor.
  std::vector<std::vector<std::int64_t>> blocks;
  for (auto r : rows_) {
    if (blocks.empty() || r / block_rows_ != blocks.back().front() / block_rows_) blocks.emplace_back();
    blocks.back().push_back(r);
  }
  if (shuffle) std::shuffle(blocks.begin(), blocks.end(), rng);
  std::vector<torch::Tensor> pending_data;
  std::vector<std::int64_t> pending_rows;
  auto emit = [&](bool all) {
    auto data = torch::cat(pending_data);
    auto rows = torch::tensor(pending_rows, torch::kInt64);
    std::int64_t start = 0;
    for (; start + batch_size <= data.size(0) || (all && start < data.size(0)); start += batch_size) {
      const auto end = std::min(start + batch_size, data.size(0));
      visit(data.slice(0, start, end), rows.slice(0, start, end));
    }
    start = std::min(start, data.size(0));
    pending_data = {data.slice(0, start)};
    pending_rows.assign(pending_rows.begin() + start, pending_rows.end());
  };
  for (auto& block : blocks) {
    const auto first = block.front(), last = block.back();
    const auto slab = source_.rows(tensor_, first, last + 1);
    if (shuffle) std::shuffle(block.begin(), block.end(), rng);
    auto local = torch::tensor(block, torch::kInt64) - first;
    pending_data.push_back(slab.index_select(0, local));
    pending_rows.insert(pending_rows.end(), block.begin(), block.end());
    if (static_cast<std::int64_t>(pending_rows.size()) >= batch_size) emit(false);
  }
  if (!pending_rows.empty()) emit(true);
}

}  // namespace facet::vggface
