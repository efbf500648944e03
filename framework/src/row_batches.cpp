#include "facet/row_batches.hpp"

#include <algorithm>

namespace facet {

std::vector<std::int64_t> to_rows(const torch::Tensor& t) {
  const auto c = t.to(torch::kInt64).contiguous();
  return {c.data_ptr<std::int64_t>(), c.data_ptr<std::int64_t>() + c.numel()};
}

RowBatches::RowBatches(const Artifact& source, std::string tensor, std::vector<std::int64_t> rows,
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

}  // namespace facet
