// Runs of several ranks that go wrong: a rank killed, a rank that never
// comes, a port in use, ranks running different pipelines. Each ends every
// rank within a bounded time, with one error naming the rank and the cause,
// and nothing half-written in the cache.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>
#include <torch/cuda.h>
#include <catch2/catch.hpp>

#include "facet/artifact_file.hpp"
#include "step_run.hpp"
#include "test_support.hpp"

using namespace facet;
namespace fs = std::filesystem;

namespace {

// Every tensor of `two` (a run of several ranks) equals `one`'s, bit for bit.
void check_same_tensors(const Artifact& one, const Artifact& two) {
  REQUIRE(one.tensor_names() == two.tensor_names());
  for (const auto& name : one.tensor_names()) {
    INFO(name);
    CHECK(torch::equal(one.get(name), two.get(name)));
  }
}

// The outputs of the one cache entry in `cache` made by step `uses`.
Artifacts cached_outputs(const fs::path& cache, const std::string& uses) {
  for (const auto& e : fs::directory_iterator(cache)) {
    const auto name = e.path().filename().string();
    if (name.rfind(uses + "-", 0) == 0 && e.path().extension() == ".h5") return read_artifact_file(e.path());
  }
  FAIL("no cache entry of " << uses << " in " << cache);
  return {};
}

// A training step long enough to be caught in the middle (about 0.1 s an epoch).
const char* kLongTraining = R"(name: long
seed: 3
threads: 1
steps:
  faces:
    uses: synthfaces
    with: {count: 200, size: 32, persons: 16}
  labels:
    uses: binarize
    inputs: {attributes: faces.attributes}
  split:
    uses: split
    inputs: {people: faces.attributes}
  backbone:
    uses: vggface
    with: {input_size: 32, width: 0.0625, epochs: 400, batch_size: 25}
    inputs: {images: faces.images, labels: labels.labels, split: split.split}
)";

bool any_temporary(const fs::path& dir) {
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.path().filename().string().find(".tmp-") != std::string::npos) return true;
  }
  return false;
}

bool has_entry(const fs::path& cache, const std::string& step) {
  if (!fs::exists(cache)) return false;
  for (const auto& e : fs::directory_iterator(cache)) {
    if (e.path().filename().string().rfind(step + "-", 0) == 0) return true;
  }
  return false;
}

/// A rank started by hand, as srun or torchrun would: `runner ARGS` with
/// RANK, WORLD_SIZE and MASTER_* set, in the background, its output in LOG.
std::string rank_command(int rank, int size, int port, const std::string& args, const std::string& log) {
  return fmt::format(
      "RANK={} WORLD_SIZE={} LOCAL_RANK={} LOCAL_WORLD_SIZE={} MASTER_ADDR=127.0.0.1 MASTER_PORT={} "
      "FACET_DIST_TIMEOUT=5 {} {} > {} 2>&1",
      rank, size, rank, size, port, test::runner_command(), args, log);
}

/// A port nobody listens on now.
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
  ::close(fd);
  return ntohs(address.sin_port);
}

}  // namespace

TEST_CASE("distributed: a rank killed during training ends the run, named, and the next run resumes", "[distributed]") {
  const auto dir = test::temp_dir("dist_kill");
  test::write_text(dir / "long.yaml", kLongTraining);
  // The launcher's ranks are its children; rank 1 is killed once training is under way.
  const auto r = test::run_command(
      test::runner_command() +
          " long.yaml --nproc-per-node 2 --cache-dir cache --runs-dir runs > out.log 2>&1 &\n"
          "launcher=$!\n"
          "for i in $(seq 1 600); do grep -q 'epoch 3/' out.log && break; sleep 0.1; done\n"
          "for p in $(pgrep -P $launcher); do\n"
          "  if tr '\\0' '\\n' < /proc/$p/environ | grep -qx RANK=1; then kill -9 $p; fi\n"
          "done\n"
          "start=$(date +%s); wait $launcher; echo \"status $?\"; echo \"took $(( $(date +%s) - start )) s\"",
      dir);
  const auto log = test::read_text(dir / "out.log");
  INFO(r.output << log);
  CHECK(r.output.find("status 0") == std::string::npos);
  CHECK(log.find("error: rank 1 (pid") != std::string::npos);
  CHECK(log.find("was killed by signal 9") != std::string::npos);
  int took = 999;
  std::sscanf(r.output.substr(r.output.find("took ")).c_str(), "took %d s", &took);
  CHECK(took < 30);
  CHECK_FALSE(any_temporary(dir / "cache"));
  CHECK_FALSE(has_entry(dir / "cache", "vggface"));
  CHECK(has_entry(dir / "cache", "split"));

  // The next run takes the finished steps from the cache.
  const auto again = test::run_runner(
      "long.yaml --nproc-per-node 2 --cache-dir cache --runs-dir runs --set "
      "steps.backbone.with.epochs=2",
      dir);
  INFO(again.output);
  CHECK(again.status == 0);
  CHECK(again.output.find("[split] cached") != std::string::npos);
}

TEST_CASE("distributed: a rank lost without a launcher is named by the rank that notices", "[distributed]") {
  const auto dir = test::temp_dir("dist_lost");
  test::write_text(dir / "long.yaml", kLongTraining);
  const int port = free_port();
  const std::string args = "long.yaml --cache-dir cache --runs-dir runs";
  const auto r = test::run_command(
      rank_command(1, 2, port, args, "rank1.log") + " &\nrank1=$!\n" + rank_command(0, 2, port, args, "rank0.log") +
          " &\nrank0=$!\n"
          "for i in $(seq 1 600); do grep -q 'epoch 3/' rank0.log && break; sleep 0.1; done\n"
          "kill -9 $rank1; start=$(date +%s); wait $rank0; echo \"status $?\"; "
          "echo \"took $(( $(date +%s) - start )) s\"",
      dir);
  const auto log = test::read_text(dir / "rank0.log");
  INFO(r.output << log);
  CHECK(r.output.find("status 1") != std::string::npos);
  CHECK(log.find("rank 1 lost") != std::string::npos);
  int took = 999;
  std::sscanf(r.output.substr(r.output.find("took ")).c_str(), "took %d s", &took);
  CHECK(took < 30);
  CHECK_FALSE(any_temporary(dir / "cache"));
}

TEST_CASE("distributed: a rendezvous that never completes names the missing ranks", "[distributed]") {
  const auto dir = test::temp_dir("dist_alone");
  test::write_text(dir / "long.yaml", kLongTraining);
  const auto r = test::run_command(
      rank_command(0, 3, free_port(), "long.yaml --cache-dir cache", "out.log") + "; echo \"status $?\"", dir);
  const auto log = test::read_text(dir / "out.log");
  INFO(log);
  CHECK(r.output.find("status 1") != std::string::npos);
  CHECK(log.find("ranks 1, 2 of 3 did not join the rendezvous") != std::string::npos);
  CHECK(log.find("within 5 s") != std::string::npos);
}

TEST_CASE("distributed: a port in use is named, with the option that changes it", "[distributed]") {
  const auto dir = test::temp_dir("dist_port");
  test::write_text(dir / "long.yaml", kLongTraining);
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  REQUIRE(::listen(fd, 1) == 0);
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
  const int port = ntohs(address.sin_port);
  const auto r =
      test::run_runner(fmt::format("long.yaml --nproc-per-node 2 --master-port {} --cache-dir cache", port), dir);
  ::close(fd);
  INFO(r.output);
  CHECK(r.status == 1);
  CHECK(r.output.find("rank 0 (pid") != std::string::npos);  // the launcher names the rank that failed
  CHECK(r.output.find(fmt::format("port {} on 127.0.0.1 is in use; choose another with --master-port", port)) !=
        std::string::npos);
}

TEST_CASE("distributed: ranks running different pipelines are refused at the rendezvous", "[distributed]") {
  const auto dir = test::temp_dir("dist_mismatch");
  test::write_text(dir / "long.yaml", kLongTraining);
  const int port = free_port();
  const auto r = test::run_command(rank_command(1, 2, port, "long.yaml --cache-dir cache --set seed=4", "rank1.log") +
                                       " &\n" + rank_command(0, 2, port, "long.yaml --cache-dir cache", "rank0.log") +
                                       "; echo \"status $?\"; wait",
                                   dir);
  const auto log = test::read_text(dir / "rank0.log") + test::read_text(dir / "rank1.log");
  INFO(log);
  CHECK(r.output.find("status 1") != std::string::npos);
  CHECK(log.find("rank 1 runs another pipeline than rank 0") != std::string::npos);
  CHECK_FALSE(has_entry(dir / "cache", "synthfaces"));
}

TEST_CASE("distributed: the smoke pipeline on CUDA, alone and as 2 ranks with NCCL", "[distributed][gpu]") {
  if (!torch::cuda::is_available() || torch::cuda::device_count() < 2) {
    WARN("skipped: this machine has " << (torch::cuda::is_available() ? torch::cuda::device_count() : 0)
                                      << " CUDA devices visible to LibTorch (needs 2; a CPU-only LibTorch has none)");
    return;
  }
  const auto dir = test::temp_dir("dist_cuda");
  const auto smoke = test::source_path("pipelines/smoke.yaml").string();
  for (const std::string ranks : {"1", "2"}) {
    const auto r = test::run_runner(
        smoke + " --set device=cuda --nproc-per-node " + ranks + " --cache-dir cache-" + ranks + " --runs-dir runs",
        dir);
    INFO(r.output);
    CHECK(r.status == 0);
  }
}

TEST_CASE("distributed: a two-rank sample step draws the faces one process draws", "[distributed]") {
  const auto dir = test::temp_dir("dist_sample");
  // 5 requests shared 3 + 2 over the ranks, each drawn from a seed of its own.
  test::write_text(dir / "sample.yaml", R"(name: sample
seed: 11
threads: 1
steps:
  faces:
    uses: synthfaces
    with: {count: 120, size: 16, persons: 8}
  split:
    uses: split
    inputs: {people: faces.attributes}
  generator:
    uses: draw
    with: {size: 16, epochs: 1, per_request: 2}
    inputs: {images: faces.images, attributes: faces.attributes, split: split.split}
  drawn:
    uses: sample
    with:
      per_request: 3
      requests: ["Male", "Eyeglasses", "Smiling, Male", "Blond Hair", "Gray Hair, Eyeglasses"]
    inputs: {model: generator.model}
)");
  const auto r = test::run_runner("sample.yaml --nproc-per-node 2 --cache-dir cache --runs-dir runs", dir);
  INFO(r.output);
  REQUIRE(r.status == 0);
  const auto two = cached_outputs(dir / "cache", "sample").at("samples");
  const auto one = test::run_step("sample", {{"model", cached_outputs(dir / "cache", "draw").at("model")}},
                                  R"({per_request: 3, requests: ["Male", "Eyeglasses", "Smiling, Male", "Blond Hair",
                                      "Gray Hair, Eyeglasses"]})",
                                  derive_seed(11, "drawn"))
                       .at("samples");
  check_same_tensors(one, two);
  CHECK(two.get(two.tensor_names().front()).size(0) == 15);  // 5 requests x 3 faces
}

TEST_CASE("distributed: two ranks share invert's requests and keep the faces one process optimises", "[distributed]") {
  const auto dir = test::temp_dir("dist_invert");
  test::write_text(dir / "invert.yaml", R"(name: invert
seed: 5
threads: 1
steps:
  faces:
    uses: synthfaces
    with: {count: 96, size: 32, persons: 8}
  labels:
    uses: binarize
    inputs: {attributes: faces.attributes}
  split:
    uses: split
    inputs: {people: faces.attributes}
  backbone:
    uses: vggface
    with: {input_size: 32, width: 0.0625, batch_norm: true, epochs: 1, batch_size: 16}
    inputs: {images: faces.images, labels: labels.labels, split: split.split}
  inverted:
    uses: invert
    with: {size: 16, iterations: 8, layer: conv2_1, per_request: 2, requests: ["Male", "Smiling", "Eyeglasses"]}
    inputs: {classifier: backbone.model, images: faces.images, attributes: faces.attributes, split: split.split}
)");
  const auto r = test::run_runner("invert.yaml --nproc-per-node 2 --cache-dir cache --runs-dir runs", dir);
  INFO(r.output);
  REQUIRE(r.status == 0);
  const auto faces = cached_outputs(dir / "cache", "synthfaces");
  const auto two = cached_outputs(dir / "cache", "invert").at("samples");
  const auto one = test::run_step("invert",
                                  {{"classifier", cached_outputs(dir / "cache", "vggface").at("model")},
                                   {"images", faces.at("images")},
                                   {"attributes", faces.at("attributes")},
                                   {"split", cached_outputs(dir / "cache", "split").at("split")}},
                                  R"({size: 16, iterations: 8, layer: conv2_1, per_request: 2,
                                      requests: ["Male", "Smiling", "Eyeglasses"]})",
                                  derive_seed(5, "inverted"))
                       .at("samples");
  check_same_tensors(one, two);
  CHECK(two.get("images").size(0) == 6);                                             // 3 requests x 2 faces
  CHECK(test::registry().find("invert")->info.parallelism == Parallelism::Sharded);  // not rank 0 alone
}
