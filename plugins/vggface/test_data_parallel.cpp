// Data-parallel runs (runner --nproc-per-node 2, Gloo on loopback) give the
// results of one process: the trained weights within float rounding, the
// extracted features byte for byte.
#include <cstring>

#include <fmt/format.h>
#include <torch/torch.h>
#include <catch2/catch.hpp>

#include "facet/artifact_file.hpp"
#include "test_support.hpp"

using namespace facet;
namespace fs = std::filesystem;

namespace {

/// The cache entry of registered step `step` in `cache` (exactly one).
fs::path entry_of(const fs::path& cache, const std::string& step) {
  std::vector<fs::path> found;
  for (const auto& e : fs::directory_iterator(cache)) {
    const auto name = e.path().filename().string();
    if (name.rfind(step + "-", 0) == 0 && e.path().extension() == ".h5") found.push_back(e.path());
  }
  REQUIRE(found.size() == 1);
  return found.front();
}

void run_ok(const std::string& args, const fs::path& dir) {
  const auto r = test::run_runner(args, dir);
  INFO(r.output);
  REQUIRE(r.status == 0);
}

// No batch norm, dropout or augmentation: nothing where two ranks may
// legitimately differ from one process; float32, whose rounding the
// tolerance is sized for (bfloat16 sums half batches to other roundings). 175 training rows in batches of 25
// over 3 epochs: 21 steps, each split 13 + 12 over the ranks.
const char* kTraining = R"(name: dp
seed: 3
threads: 1
precision: fp32
steps:
  faces:
    uses: synthfaces
    with: {count: 300, size: 32, persons: 20}
  labels:
    uses: binarize
    with: {mode: grouped}
    inputs: {attributes: faces.attributes}
  split:
    uses: split
    with: {train: 0.6, val: 0.2, test: 0.2}
    inputs: {people: faces.attributes}
  backbone:
    uses: vggface
    with: {input_size: 32, width: 0.0625, batch_norm: false, dropout: 0, optimizer: sgd, lr: 0.02, epochs: 3,
           batch_size: 25, majority_fallback: false}
    inputs: {images: faces.images, labels: labels.labels, split: split.split}
)";

}  // namespace

TEST_CASE("data-parallel: two ranks train the weights one process trains, at the same global batch",
          "[vggface][distributed]") {
  const auto dir = test::temp_dir("dp_training");
  test::write_text(dir / "dp.yaml", kTraining);
  run_ok("dp.yaml --cache-dir one --runs-dir runs", dir);
  run_ok("dp.yaml --nproc-per-node 2 --cache-dir two --runs-dir runs", dir);

  // Steps that run once share their keys; the trained model's key names the ranks.
  CHECK(entry_of(dir / "one", "synthfaces").filename() == entry_of(dir / "two", "synthfaces").filename());
  CHECK(entry_of(dir / "one", "vggface").filename() != entry_of(dir / "two", "vggface").filename());

  const auto one = read_artifact_file(entry_of(dir / "one", "vggface")).at("model");
  const auto two = read_artifact_file(entry_of(dir / "two", "vggface")).at("model");
  std::size_t compared = 0;
  for (const auto& name : one.tensor_names()) {
    const auto a = one.get(name), b = two.get(name);
    if (!a.is_floating_point()) continue;
    INFO(name);
    CHECK(torch::allclose(a, b, /*rtol=*/1e-4, /*atol=*/1e-5));
    ++compared;
  }
  CHECK(compared >= 10);
  // The training curves agree too: every rank's rows count in the reported loss.
  const auto h1 = read_artifact_file(entry_of(dir / "one", "vggface")).at("history").get("train_loss");
  const auto h2 = read_artifact_file(entry_of(dir / "two", "vggface")).at("history").get("train_loss");
  CHECK(torch::allclose(h1, h2, 1e-5, 1e-4));
  CHECK(h1[2].item<double>() < h1[0].item<double>());  // it trained: equal weights are not untouched ones
}

TEST_CASE("data-parallel: a two-rank extract is byte-identical to one process's", "[vggface][distributed]") {
  const auto dir = test::temp_dir("dp_extract");
  // 300 images in batches of 16: 19 chunks, the last short, shared 10 + 9 over the ranks.
  test::write_text(dir / "dp.yaml", std::string(kTraining) + R"(  fc7:
    uses: extract
    with: {batch_size: 16}
    inputs: {model: backbone.model, images: faces.images, labels: labels.labels}
)");
  run_ok("dp.yaml --nproc-per-node 2 --cache-dir two --runs-dir runs", dir);
  const auto two = read_artifact_file(entry_of(dir / "two", "extract"));

  // The same step in this one process, on the same model and images.
  const Artifacts inputs{{"model", read_artifact_file(entry_of(dir / "two", "vggface")).at("model")},
                         {"images", read_artifact_file(entry_of(dir / "two", "synthfaces")).at("images")},
                         {"labels", read_artifact_file(entry_of(dir / "two", "binarize")).at("labels")}};
  const int threads = torch::get_num_threads();
  torch::set_num_threads(1);  // as the ranks ran: the kernels' sums in the same order
  const auto one = test::run_step("extract", inputs, "{batch_size: 16, precision: fp32}");  // as the pipeline
  torch::set_num_threads(threads);

  for (const auto& [output, tensor] : {std::pair<std::string, std::string>{"features", "features"},
                                       {"features", "labels"},
                                       {"predictions", "classes"},
                                       {"predictions", "confidence"}}) {
    INFO(output << "/" << tensor);
    const auto a = one.at(output).get(tensor).contiguous(), b = two.at(output).get(tensor).contiguous();
    REQUIRE(a.sizes() == b.sizes());
    CHECK(a.size(0) == 300);
    CHECK(std::memcmp(a.data_ptr(), b.data_ptr(), static_cast<size_t>(a.numel() * a.element_size())) == 0);
  }
}
