#include "facet/group.hpp"

#include <chrono>
#include <map>

#include <torch/torch.h>

#include "facet/errors.hpp"

namespace facet {

namespace {

class SingleProcess final : public Group {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  struct Done final : Pending {
    void wait() override {}
  };
  std::unique_ptr<Pending> start_sum(torch::Tensor) override { return std::make_unique<Done>(); }
  void broadcast(torch::Tensor, int) override {}
  torch::Tensor gather_rows(const torch::Tensor& part, int) override { return part; }
  void barrier() override {}
};

constexpr std::int64_t kMaxDims = 8;     // per output tensor, in the shape message
constexpr std::int64_t kMaxOutputs = 8;  // output tensors of one chunk

}  // namespace

Group& single_process() {
  static SingleProcess group;
  return group;
}

Share share_of(std::int64_t count, int rank, int size) {
  const std::int64_t base = count / size, extra = count % size;
  const std::int64_t begin = rank * base + std::min<std::int64_t>(rank, extra);
  return {begin, begin + base + (rank < extra ? 1 : 0)};
}

// ---------------------------------------------------------------------------

struct GradientSum::State {
  Group& group;
  torch::nn::Module& module;
  struct Bucket {
    std::vector<torch::Tensor> parameters;
    torch::Tensor flat;
    std::vector<std::int64_t> offsets;
    std::vector<bool> ready;
    std::int64_t missing = 0;
    std::unique_ptr<Group::Pending> pending;
  };
  std::vector<Bucket> buckets;
  std::size_t next_to_start = 0;  // buckets start in index order on every rank: collectives pair up by order
  std::vector<std::pair<torch::Tensor, unsigned>> hooks;
  double wait_seconds = 0;

  State(Group& g, torch::nn::Module& m) : group(g), module(m) {}

  void reset() {
    for (auto& b : buckets) {
      std::fill(b.ready.begin(), b.ready.end(), false);
      b.missing = static_cast<std::int64_t>(b.parameters.size());
      b.pending.reset();
    }
    next_to_start = 0;
  }

  void start_ready_buckets() {
    while (next_to_start < buckets.size() && buckets[next_to_start].missing == 0) {
      auto& b = buckets[next_to_start++];
      b.pending = group.start_sum(b.flat);
    }
  }

  void on_gradient(std::size_t bucket, std::size_t index, const torch::Tensor& grad) {
    auto& b = buckets[bucket];
    if (b.ready[index]) return;  // a parameter used twice: its hook fires per use, the last sum is what counts
    b.flat.narrow(0, b.offsets[index], grad.numel()).copy_(grad.reshape(-1));
    b.ready[index] = true;
    --b.missing;
    start_ready_buckets();
  }
};

GradientSum::GradientSum(Group& group, torch::nn::Module& module, std::int64_t bucket_bytes)
    : state_(std::make_unique<State>(group, module)) {
  torch::NoGradGuard no_grad;
  for (auto& p : module.parameters()) group.broadcast(p, 0);
  for (auto& b : module.buffers()) group.broadcast(b, 0);
  if (group.size() == 1) return;
  // Buckets in reverse registration order: the backward pass computes the last layers first.
  auto parameters = module.parameters();
  std::vector<torch::Tensor> trainable;
  for (auto it = parameters.rbegin(); it != parameters.rend(); ++it) {
    if (it->requires_grad()) trainable.push_back(*it);
  }
  std::int64_t filled = 0;  // bytes in the last bucket
  for (auto& p : trainable) {
    const std::int64_t size = p.numel() * static_cast<std::int64_t>(p.element_size());
    auto& buckets = state_->buckets;
    if (buckets.empty() || (filled > 0 && filled + size > bucket_bytes) ||
        buckets.back().parameters.front().scalar_type() != p.scalar_type()) {
      buckets.emplace_back();
      filled = 0;
    }
    auto& bucket = buckets.back();
    bucket.offsets.push_back(bucket.parameters.empty() ? 0 : bucket.offsets.back() + bucket.parameters.back().numel());
    bucket.parameters.push_back(p);
    filled += size;
  }
  for (std::size_t b = 0; b < state_->buckets.size(); ++b) {
    auto& bucket = state_->buckets[b];
    const auto total = bucket.offsets.back() + bucket.parameters.back().numel();
    bucket.flat = torch::zeros({total}, bucket.parameters.front().options().requires_grad(false));
    bucket.ready.assign(bucket.parameters.size(), false);
    bucket.missing = static_cast<std::int64_t>(bucket.parameters.size());
    for (std::size_t i = 0; i < bucket.parameters.size(); ++i) {
      auto& p = bucket.parameters[i];
      const unsigned id =
          p.register_hook([state = state_.get(), b, i](const torch::Tensor& grad) { state->on_gradient(b, i, grad); });
      state_->hooks.emplace_back(p, id);
    }
  }
}

GradientSum::~GradientSum() {
  for (auto& [p, id] : state_->hooks) p.remove_hook(id);
}

void GradientSum::finish() {
  if (state_->group.size() == 1) return;
  // A parameter no loss reached on this rank contributes zeros; whether any
  // rank reached it travels beside the sums, so that one no rank reached
  // keeps its gradient, as in one process.
  std::vector<float> reached;
  for (auto& b : state_->buckets) {
    for (std::size_t i = 0; i < b.parameters.size(); ++i) {
      reached.push_back(b.ready[i] ? 1.0f : 0.0f);
      if (b.ready[i]) continue;
      b.flat.narrow(0, b.offsets[i], b.parameters[i].numel()).zero_();
      b.ready[i] = true;
      --b.missing;
    }
  }
  state_->start_ready_buckets();
  auto reached_anywhere = torch::tensor(reached);
  auto reached_sum = state_->group.start_sum(reached_anywhere);
  const auto started = std::chrono::steady_clock::now();
  for (auto& b : state_->buckets) b.pending->wait();
  reached_sum->wait();
  state_->wait_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  torch::NoGradGuard no_grad;
  const auto reached_by = reached_anywhere.accessor<float, 1>();
  std::int64_t index = 0;
  for (auto& b : state_->buckets) {
    for (std::size_t i = 0; i < b.parameters.size(); ++i) {
      if (reached_by[index++] == 0.0f) continue;
      auto& p = b.parameters[i];
      auto sum = b.flat.narrow(0, b.offsets[i], p.numel()).view(p.sizes());
      if (p.grad().defined()) {
        p.mutable_grad().copy_(sum);
      } else {
        p.mutable_grad() = sum.clone();
      }
    }
  }
  state_->reset();
}

void GradientSum::share_buffers() {
  if (state_->group.size() == 1) return;
  torch::NoGradGuard no_grad;
  for (auto& b : state_->module.buffers()) state_->group.broadcast(b, 0);
}

double GradientSum::wait_seconds() const { return state_->wait_seconds; }

// ---------------------------------------------------------------------------

namespace {

/// The outputs' trailing shapes and types, as rank 0 found them, for the ranks without a chunk.
std::vector<torch::Tensor> empty_like_template(const torch::Tensor& message) {
  const auto m = message.accessor<std::int64_t, 1>();
  std::vector<torch::Tensor> out;
  std::int64_t at = 1;
  for (std::int64_t k = 0; k < m[0]; ++k, at += kMaxDims + 2) {
    std::vector<std::int64_t> shape{0};
    for (std::int64_t d = 1; d < m[at + 1]; ++d) shape.push_back(m[at + 2 + d]);
    out.push_back(torch::empty(shape, torch::TensorOptions().dtype(static_cast<torch::ScalarType>(m[at]))));
  }
  return out;
}

torch::Tensor template_message(const std::vector<torch::Tensor>& outputs) {
  if (static_cast<std::int64_t>(outputs.size()) > kMaxOutputs) {
    throw Error("for_each_chunk_in_order: at most 8 output tensors per chunk");
  }
  auto message = torch::zeros({1 + kMaxOutputs * (kMaxDims + 2)}, torch::kInt64);
  auto m = message.accessor<std::int64_t, 1>();
  m[0] = static_cast<std::int64_t>(outputs.size());
  std::int64_t at = 1;
  for (const auto& t : outputs) {
    if (t.dim() > kMaxDims || t.dim() == 0) throw Error("for_each_chunk_in_order: outputs need 1 to 8 dimensions");
    m[at] = static_cast<std::int64_t>(t.scalar_type());
    m[at + 1] = t.dim();
    for (std::int64_t d = 0; d < t.dim(); ++d) m[at + 2 + d] = t.size(d);
    at += kMaxDims + 2;
  }
  return message;
}

}  // namespace

void for_each_chunk_in_order(
    Group& group, std::int64_t rows, std::int64_t chunk,
    const std::function<std::vector<torch::Tensor>(std::int64_t begin, std::int64_t end)>& compute,
    const std::function<void(const std::vector<torch::Tensor>& outputs)>& append) {
  const std::int64_t size = group.size(), rank = group.rank();
  if (size == 1) {
    for (std::int64_t begin = 0; begin < rows; begin += chunk) append(compute(begin, std::min(rows, begin + chunk)));
    return;
  }
  const std::int64_t chunks = (rows + chunk - 1) / chunk;
  torch::Tensor shapes;  // rank 0's outputs' types and shapes, sent once
  for (std::int64_t round = 0; round * size < chunks; ++round) {
    const std::int64_t mine = round * size + rank;
    std::vector<torch::Tensor> outputs;
    if (mine < chunks) outputs = compute(mine * chunk, std::min(rows, (mine + 1) * chunk));
    if (!shapes.defined()) {
      shapes = rank == 0 ? template_message(outputs) : torch::zeros({1 + kMaxOutputs * (kMaxDims + 2)}, torch::kInt64);
      group.broadcast(shapes, 0);
    }
    if (outputs.empty()) outputs = empty_like_template(shapes);
    std::vector<torch::Tensor> gathered;
    for (const auto& t : outputs) gathered.push_back(group.gather_rows(t.contiguous(), 0));
    if (rank == 0) append(gathered);
  }
}

}  // namespace facet
