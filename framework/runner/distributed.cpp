#include "distributed.hpp"

// c10d's Gloo process group is compiled only where this is defined.
#define USE_C10D_GLOO 1

#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef FACET_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include "facet/errors.hpp"

namespace facet {
namespace fs = std::filesystem;

namespace {

std::optional<int> env_int(const char* name) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return std::nullopt;
  // Slurm writes counts per node as "4(x2)": the number before '(' is this node's.
  std::string value = text;
  value = value.substr(0, value.find('('));
  char* end = nullptr;
  const long v = std::strtol(value.c_str(), &end, 10);
  if (end == value.c_str() || *end != '\0' || v < 0 || v > 1'000'000) {
    throw Error(fmt::format("{}={}: not a whole number", name, text));
  }
  return static_cast<int>(v);
}

std::optional<int> first_of(const char* a, const char* b) {
  if (auto v = env_int(a)) return v;
  return env_int(b);
}

std::string first_line(const std::string& text) {
  const auto end = text.find('\n');
  return end == std::string::npos ? text : text.substr(0, end);
}

/// A collective operation's error as one line naming this rank.
[[noreturn]] void collective_failed(int rank, const std::exception& e) {
  const auto* torch_error = dynamic_cast<const c10::Error*>(&e);
  const std::string what = torch_error != nullptr ? torch_error->what_without_backtrace() : e.what();
  throw Error(
      fmt::format("rank {}: a collective operation failed ({}); another rank failed or was lost (its "
                  "error is reported first)",
                  rank, first_line(what)));
}

template <typename WorkPtr>
void wait_for(const WorkPtr& work, int rank) {
  try {
    work->wait();
  } catch (const std::exception& e) {
    collective_failed(rank, e);
  }
}

class C10dGroup final : public Group {
 public:
  C10dGroup(c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo, int rank, int size)
      : gloo_(std::move(gloo)), rank_(rank), size_(size) {}
#ifdef FACET_WITH_NCCL
  void set_nccl(c10::intrusive_ptr<c10d::ProcessGroupNCCL> nccl) { nccl_ = std::move(nccl); }
#endif

  int rank() const override { return rank_; }
  int size() const override { return size_; }

  std::unique_ptr<Pending> start_sum(torch::Tensor tensor) override {
    std::vector<at::Tensor> tensors{std::move(tensor)};
    try {
#ifdef FACET_WITH_NCCL
      if (tensors[0].is_cuda() && nccl_)
        return std::make_unique<Started<decltype(nccl_->allreduce(tensors))>>(nccl_->allreduce(tensors), rank_);
#endif
      return std::make_unique<Started<decltype(gloo_->allreduce(tensors))>>(gloo_->allreduce(tensors), rank_);
    } catch (const std::exception& e) {
      collective_failed(rank_, e);
    }
  }

  void broadcast(torch::Tensor tensor, int root) override {
    // Gloo works on CPU tensors: a CUDA tensor travels through host memory.
    auto host = tensor.is_cuda() ? tensor.cpu() : tensor;
    std::vector<at::Tensor> tensors{host};
    c10d::BroadcastOptions options;
    options.rootRank = root;
    run([&] { return gloo_->broadcast(tensors, options); });
    if (tensor.is_cuda()) tensor.copy_(host);
  }

  torch::Tensor gather_rows(const torch::Tensor& part, int root) override {
    auto local = part.cpu().contiguous();
    // Every rank's row count first: the parts are padded to the longest.
    std::vector<at::Tensor> count{torch::tensor({local.size(0)}, torch::kInt64)};
    std::vector<std::vector<at::Tensor>> counts(1);
    for (int r = 0; r < size_; ++r) counts[0].push_back(torch::empty({1}, torch::kInt64));
    run([&] { return gloo_->allgather(counts, count); });
    std::int64_t longest = 0;
    for (const auto& c : counts[0]) longest = std::max(longest, c.item<std::int64_t>());
    auto shape = local.sizes().vec();
    shape[0] = longest - local.size(0);
    std::vector<at::Tensor> input{torch::cat({local, torch::zeros(shape, local.options())})};
    std::vector<std::vector<at::Tensor>> output;
    if (rank_ == root) {
      output.emplace_back();
      for (int r = 0; r < size_; ++r) output[0].push_back(torch::empty_like(input[0]));
    }
    c10d::GatherOptions options;
    options.rootRank = root;
    run([&] { return gloo_->gather(output, input, options); });
    if (rank_ != root) return {};
    std::vector<torch::Tensor> parts;
    for (int r = 0; r < size_; ++r) parts.push_back(output[0][r].slice(0, 0, counts[0][r].item<std::int64_t>()));
    return torch::cat(parts);
  }

  void barrier() override {
    run([&] { return gloo_->barrier(); });
  }

 private:
  template <typename WorkPtr>
  struct Started final : Pending {
    Started(WorkPtr w, int r) : work(std::move(w)), rank(r) {}
    void wait() override { wait_for(work, rank); }
    WorkPtr work;
    int rank;
  };

  template <typename Start>
  void run(const Start& start) {
    try {
      wait_for(start(), rank_);
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      collective_failed(rank_, e);
    }
  }

  c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo_;
#ifdef FACET_WITH_NCCL
  c10::intrusive_ptr<c10d::ProcessGroupNCCL> nccl_;
#endif
  int rank_;
  int size_;
};

bool is_loopback(const std::string& host) { return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1"; }

/// Every rank counts up facet/alive/RANK in the store twice a second, on a
/// connection of its own, so that the others can tell a lost rank (killed,
/// or its machine gone) from a slow one.
class Heartbeat {
 public:
  static constexpr auto kPeriod = std::chrono::milliseconds(500);

  explicit Heartbeat(const WorldSpec& spec) {
    c10d::TCPStoreOptions options;
    options.port = static_cast<std::uint16_t>(spec.master_port);
    options.isServer = false;
    options.timeout = spec.timeout;
    auto store = c10::make_intrusive<c10d::TCPStore>(spec.master_addr, options);
    thread_ = std::thread([this, store, key = fmt::format("facet/alive/{}", spec.rank)] {
      std::unique_lock<std::mutex> lock(mutex_);
      while (!stopping_) {
        try {
          store->add(key, 1);
        } catch (const std::exception&) {
          return;  // the store is gone with rank 0: the run is ending
        }
        wake_.wait_for(lock, kPeriod);
      }
    });
  }
  ~Heartbeat() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

class C10dWorld final : public World {
 public:
  C10dWorld(const WorldSpec& spec, c10::intrusive_ptr<c10d::Store> store)
      : spec_(spec), store_(std::move(store)), heartbeat_(std::make_unique<Heartbeat>(spec)) {
    auto options = c10d::ProcessGroupGloo::Options::create(spec.timeout);
    if (std::getenv("GLOO_SOCKET_IFNAME") != nullptr) {
      options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(std::getenv("GLOO_SOCKET_IFNAME")));
    } else if (is_loopback(spec.master_addr)) {
      options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    } else {
      options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    }
    auto gloo = c10::make_intrusive<c10d::ProcessGroupGloo>(c10::make_intrusive<c10d::PrefixStore>("gloo", store_),
                                                            spec.rank, spec.size, options);
    group_ = std::make_unique<C10dGroup>(gloo, spec.rank, spec.size);
#ifdef FACET_WITH_NCCL
    if (torch::cuda::is_available()) {
      auto nccl_options = c10d::ProcessGroupNCCL::Options::create();
      nccl_options->timeout = spec.timeout;
      group_->set_nccl(c10::make_intrusive<c10d::ProcessGroupNCCL>(
          c10::make_intrusive<c10d::PrefixStore>("nccl", store_), spec.rank, spec.size, nccl_options));
    }
#endif
  }

  int rank() const override { return spec_.rank; }
  int size() const override { return spec_.size; }
  Group& group() override { return *group_; }

  void publish(const std::string& key, const std::string& value) override {
    guarded([&] { store_->set("facet/" + key, std::vector<std::uint8_t>(value.begin(), value.end())); });
  }

  std::string await(const std::string& key, const std::function<bool()>& cancelled) override {
    const std::string full = "facet/" + key;
    for (;;) {
      bool present = false;
      guarded([&] { present = store_->check({full}); });
      if (present) return peek(key);
      if (cancelled()) throw Cancelled();
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }

  void finish() override {
    if (spec_.rank != 0) {
      publish(fmt::format("finished/{}", spec_.rank), "1");
      return;
    }
    // Rank 0 hosts the store: it waits for the ranks still alive to be done with it.
    const auto deadline = std::chrono::steady_clock::now() + spec_.timeout;
    std::vector<int> waiting;
    for (int r = 1; r < spec_.size; ++r) waiting.push_back(r);
    while (!waiting.empty() && std::chrono::steady_clock::now() < deadline) {
      std::vector<int> still;
      for (int r : waiting) {
        if (peek(fmt::format("finished/{}", r)).empty()) still.push_back(r);
      }
      if (still.empty()) return;
      const auto lost = lost_ranks();
      waiting.clear();
      for (int r : still) {
        if (std::find(lost.begin(), lost.end(), r) == lost.end()) waiting.push_back(r);
      }
    }
  }

  std::vector<int> lost_ranks() override {
    auto beats = [&] {
      std::vector<std::int64_t> counts;
      guarded([&] {
        for (int r = 0; r < spec_.size; ++r) counts.push_back(store_->add(fmt::format("facet/alive/{}", r), 0));
      });
      return counts;
    };
    const auto before = beats();
    std::this_thread::sleep_for(4 * Heartbeat::kPeriod);
    const auto after = beats();
    std::vector<int> lost;
    for (int r = 0; r < spec_.size; ++r) {
      if (r != spec_.rank && after[static_cast<size_t>(r)] == before[static_cast<size_t>(r)]) lost.push_back(r);
    }
    return lost;
  }

  std::string peek(const std::string& key) override {
    const std::string full = "facet/" + key;
    std::string value;
    guarded([&] {
      if (!store_->check({full})) return;
      const auto bytes = store_->get(full);
      value.assign(bytes.begin(), bytes.end());
    });
    return value;
  }

 private:
  template <typename F>
  void guarded(const F& f) {
    try {
      f();
    } catch (const std::exception& e) {
      throw Error(fmt::format("rank {}: lost the rendezvous store at {}:{} (rank 0 is gone: {})", spec_.rank,
                              spec_.master_addr, spec_.master_port, first_line(e.what())));
    }
  }

  WorldSpec spec_;
  c10::intrusive_ptr<c10d::Store> store_;
  std::unique_ptr<Heartbeat> heartbeat_;
  std::unique_ptr<C10dGroup> group_;
};

std::string text_of(const std::vector<std::uint8_t>& bytes) { return {bytes.begin(), bytes.end()}; }

c10::intrusive_ptr<c10d::Store> connect(const WorldSpec& spec) {
  c10d::TCPStoreOptions options;
  options.port = static_cast<std::uint16_t>(spec.master_port);
  options.isServer = spec.rank == 0;
  options.numWorkers = static_cast<std::size_t>(spec.size);
  options.waitWorkers = false;  // every rank's key in check_same_pipeline says who joined
  options.timeout = spec.timeout;
  try {
    return c10::make_intrusive<c10d::TCPStore>(spec.master_addr, options);
  } catch (const std::exception& e) {
    const std::string what = e.what();
    if (what.find("already in use") != std::string::npos || what.find("EADDRINUSE") != std::string::npos) {
      throw Error(fmt::format("rank 0: port {} on {} is in use; choose another with --master-port (or MASTER_PORT)",
                              spec.master_port, spec.master_addr));
    }
    throw Error(
        fmt::format("rank {}: the rendezvous at {}:{} did not complete within {} s ({}); are all {} ranks "
                    "started, with the same --master-addr and --master-port?",
                    spec.rank, spec.master_addr, spec.master_port, spec.timeout.count(), first_line(what), spec.size));
  }
}

/// Waits until every rank has set `prefix`/RANK; throws facet::Error naming
/// the ranks missing at the timeout.
void wait_for_every_rank(c10d::Store& store, const WorldSpec& spec, const std::string& prefix) {
  const auto deadline = std::chrono::steady_clock::now() + spec.timeout;
  std::vector<int> missing;
  for (int r = 0; r < spec.size; ++r) missing.push_back(r);
  for (;;) {
    std::vector<int> still;
    for (int r : missing) {
      if (!store.check({fmt::format("{}/{}", prefix, r)})) still.push_back(r);
    }
    missing = still;
    if (missing.empty()) return;
    if (std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  throw Error(fmt::format(
      "rank {}: rank{} {} of {} did not join the rendezvous at {}:{} within {} s; start every rank with the "
      "same --master-addr and --master-port (FACET_DIST_TIMEOUT sets the wait)",
      spec.rank, missing.size() > 1 ? "s" : "", fmt::join(missing, ", "), spec.size, spec.master_addr, spec.master_port,
      spec.timeout.count()));
}

/// Every rank runs the same resolved pipeline: compared at the rendezvous.
void check_same_pipeline(c10d::Store& store, const WorldSpec& spec, const std::string& hash) {
  store.set(fmt::format("facet/pipeline/{}", spec.rank), std::vector<std::uint8_t>(hash.begin(), hash.end()));
  wait_for_every_rank(store, spec, "facet/pipeline");
  std::vector<std::string> keys;
  for (int r = 0; r < spec.size; ++r) keys.push_back(fmt::format("facet/pipeline/{}", r));
  const auto reference = text_of(store.get(keys[0]));
  for (int r = 1; r < spec.size; ++r) {
    if (text_of(store.get(keys[static_cast<size_t>(r)])) != reference) {
      throw Error(
          fmt::format("rank {} runs another pipeline than rank 0 (its resolved pipeline's hash differs): "
                      "start every rank with the same file, --set values and plugins",
                      r));
    }
  }
}

/// Rank 0 writes a token into the cache; every rank must see it.
void check_shared_cache(c10d::Store& store, const WorldSpec& spec, const fs::path& cache_dir) {
  fs::path token;
  if (spec.rank == 0) {
    fs::create_directories(cache_dir);
    token = cache_dir / fmt::format(".rendezvous-{}-{}", ::getpid(), std::random_device()());
    std::ofstream(token) << "facet rendezvous\n";
    const auto name = token.filename().string();
    store.set("facet/cache_token", std::vector<std::uint8_t>(name.begin(), name.end()));
  }
  store.wait({"facet/cache_token"}, spec.timeout);
  const auto name = text_of(store.get("facet/cache_token"));
  const bool seen = fs::exists(cache_dir / name);
  store.set(fmt::format("facet/cache_seen/{}", spec.rank),
            std::vector<std::uint8_t>{seen ? uint8_t('1') : uint8_t('0')});
  std::vector<std::string> keys;
  for (int r = 0; r < spec.size; ++r) keys.push_back(fmt::format("facet/cache_seen/{}", r));
  store.wait(keys, spec.timeout);
  if (spec.rank == 0) fs::remove(token);
  for (int r = 0; r < spec.size; ++r) {
    if (text_of(store.get(keys[static_cast<size_t>(r)])) != "1") {
      throw Error(
          fmt::format("rank {} does not see rank 0's cache folder {} (on another machine?): put --cache-dir "
                      "on a folder every machine shares",
                      r, cache_dir.string()));
    }
  }
}

}  // namespace

WorldSpec world_from_environment() {
  WorldSpec spec;
  const auto size = first_of("WORLD_SIZE", "SLURM_NTASKS");
  if (!size || *size <= 1) return spec;
  spec.size = *size;
  const auto rank = first_of("RANK", "SLURM_PROCID");
  if (!rank) throw Error(fmt::format("WORLD_SIZE={} but no RANK (or SLURM_PROCID) says which rank this is", spec.size));
  if (*rank >= spec.size) throw Error(fmt::format("RANK={} is not below WORLD_SIZE={}", *rank, spec.size));
  spec.rank = *rank;
  spec.local_rank = first_of("LOCAL_RANK", "SLURM_LOCALID").value_or(0);
  spec.local_size = std::max(1, first_of("LOCAL_WORLD_SIZE", "SLURM_NTASKS_PER_NODE").value_or(1));
  if (const char* addr = std::getenv("MASTER_ADDR"); addr != nullptr && *addr != '\0') spec.master_addr = addr;
  if (auto port = env_int("MASTER_PORT")) {
    if (*port < 1 || *port > 65535) throw Error(fmt::format("MASTER_PORT={}: not a port (1 to 65535)", *port));
    spec.master_port = *port;
  }
  if (auto timeout = env_int("FACET_DIST_TIMEOUT")) spec.timeout = std::chrono::seconds(std::max(1, *timeout));
  return spec;
}

std::unique_ptr<World> World::join(const WorldSpec& spec, const std::string& pipeline_hash, const fs::path& cache_dir) {
  auto store = connect(spec);
  try {
    check_same_pipeline(*store, spec, pipeline_hash);
    check_shared_cache(*store, spec, cache_dir);
    return std::make_unique<C10dWorld>(spec, store);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(fmt::format("rank {}: the rendezvous at {}:{} did not complete within {} s ({})", spec.rank,
                            spec.master_addr, spec.master_port, spec.timeout.count(), first_line(e.what())));
  }
}

}  // namespace facet
