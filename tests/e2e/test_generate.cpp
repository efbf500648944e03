// `runner generate`: faces from the generator of a finished run.
#include <catch2/catch.hpp>

#include "test_support.hpp"

using namespace facet;
namespace fs = std::filesystem;

namespace {
/// Width and height from a PNG's IHDR chunk.
std::pair<int, int> png_size(const fs::path& file) {
  const auto bytes = test::read_text(file);
  REQUIRE(bytes.size() > 24);
  REQUIRE(bytes.substr(1, 3) == "PNG");
  auto be32 = [&](size_t at) {
    int v = 0;
    for (size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(bytes[at + i]);
    return v;
  };
  return {be32(16), be32(20)};
}
}  // namespace

TEST_CASE("runner generate: faces for a request from a finished run's generator, and its errors",
          "[runner][generate]") {
  const auto dir = test::temp_dir("e2e-generate");
  const auto smoke = test::source_path("pipelines/smoke.yaml").string();
  const auto run = test::run_runner(smoke + " --until generator", dir);
  INFO(run.output);
  REQUIRE(run.status == 0);
  fs::path run_dir;
  for (const auto& e : fs::directory_iterator(dir / "runs" / "smoke")) run_dir = e.path();
  const std::string from = " --from '" + run_dir.string() + "'";

  const auto ok =
      test::run_runner("generate" + from + " --attributes 'Smiling, Black Hair' --count 4 --out faces.png", dir);
  INFO(ok.output);
  REQUIRE(ok.status == 0);
  CHECK_THAT(ok.output, Catch::Contains("4 faces for \"Smiling, Black Hair\" from step 'generator' (draw)"));
  CHECK(png_size(dir / "faces.png") == std::make_pair(4 * 16 * 2, 16 * 2));  // smoke's DRAW draws 16x16, shown at 2x
  CHECK_FALSE(fs::exists(dir / "faces.png.tmp"));
  // Sampling trains nothing and caches nothing new.
  CHECK_THAT(ok.output, !Catch::Contains("epoch"));

  auto fails = [&](const std::string& args, const std::string& message) {
    const auto r = test::run_runner("generate " + args, dir);
    INFO(r.output);
    CHECK(r.status == 2);
    CHECK_THAT(r.output, Catch::Contains(message));
  };
  fails(from + " --attributes 'Smiling, Blnd Hair' --out x.png",
        "unknown attribute 'Blnd Hair'; did you mean 'Blond Hair'?");
  fails(from + " --attributes 'Smiling, Blnd Hair' --out x.png", "valid: Male, Asian");
  fails(from + " --attributes 'Black Hair, Blond Hair' --out x.png",
        "'Black Hair' and 'Blond Hair' contradict each other");
  fails(from + " --attributes Smiling", "generate needs --out");
  fails(from + " --attributes Smiling --out x.jpg", "name a .png file");
  fails(from + " --attributes Smiling --out nowhere/x.png", "folder nowhere does not exist");
  fails(from + " --attributes Smiling --count 0 --out x.png", "ask for at least one face");
  fails(from + " --attributes Smiling --count 5000 --out x.png",
        "--count 5000: must be 1 <= x <= 4096 (the faces sample draws in one call)");
  fails(" --from '" + dir.string() + "' --attributes Smiling --out x.png", "not a run folder (it has no metrics.json)");
  fails(from + " --attributes Smiling --out x.png --step backbone", "--step backbone: not a completed generator step");
  fails(from + " --attributes Smiling --out x.png --cache-dir elsewhere", "is not in the cache");
  CHECK_FALSE(fs::exists(dir / "x.png"));
}

TEST_CASE("runner: uses: gan or invert in place of uses: draw runs and evaluates with no other edit",
          "[runner][generate]") {
  for (const std::string generator : {"gan", "invert"}) {
    const auto dir = test::temp_dir("e2e-swap-" + generator);
    const auto smoke = test::source_path("pipelines/smoke.yaml").string();
    const auto run = test::run_runner(smoke + " --set steps.generator.uses=" + generator, dir);
    INFO(run.output);
    REQUIRE(run.status == 0);
    CHECK_THAT(run.output,
               Catch::Contains("[generator] running " + generator) &&
                   Catch::Contains("[generation] the classifier finds the attributes of the written requests in"));
    fs::path run_dir;
    for (const auto& e : fs::directory_iterator(dir / "runs" / "smoke")) run_dir = e.path();
    CHECK_THAT(test::read_text(run_dir / "metrics.json"),
               Catch::Contains("\"uses\": \"" + generator + "\"") && Catch::Contains("\"frechet_noise\""));
    CHECK(fs::exists(run_dir / "generator" / "samples.png"));
    const auto faces = test::run_runner(
        "generate --from '" + run_dir.string() + "' --attributes 'Eyeglasses' --count 2 --out g.png", dir);
    INFO(faces.output);
    CHECK(faces.status == 0);
    CHECK_THAT(faces.output, Catch::Contains("from step 'generator' (" + generator + ")"));
    CHECK(png_size(dir / "g.png") == std::make_pair(2 * 16 * 2, 16 * 2));
  }
}

TEST_CASE("runner: generated faces judged by an independent judge, on held-out requests, beside the copy baseline",
          "[runner][generate]") {
  const auto dir = test::temp_dir("e2e-judge");
  // smoke, with persons set aside for a judge that trains on them alone, and
  // the copy-the-closest-face baseline judged on held-out requests.
  auto yaml = test::read_text(test::source_path("pipelines/smoke.yaml"));
  const auto replace = [&](const std::string& from, const std::string& to) {
    const auto at = yaml.find(from);
    REQUIRE(at != std::string::npos);
    yaml.replace(at, from.size(), to);
  };
  replace("{train: 0.6, val: 0.2, test: 0.2}", "{train: 0.4, judge: 0.2, val: 0.2, test: 0.2}");
  replace("  fc7:\n",
          "  judge:\n    uses: vggface\n    with: {input_size: 32, width: 0.0625, batch_norm: true, epochs: 1, "
          "train_subset: judge}\n    inputs: {images: faces.images, labels: labels.labels, split: split.split}\n"
          "  fc7:\n");
  replace("uses: draw ", "uses: nearest ");
  replace("  generation:\n",
          "  held_out:\n    uses: sample\n    with: {requests: [], held_out: 20, per_request: 4}\n"
          "    inputs: {model: generator.model, attributes: faces.attributes, split: split.split}\n"
          "  generation:\n");
  replace("{samples: generator.samples, classifier: backbone.model,",
          "{samples: held_out.samples, classifier: backbone.model, judge: judge.model,");
  test::write_text(dir / "judged.yaml", yaml);
  const auto run = test::run_runner("judged.yaml", dir);
  INFO(run.output);
  REQUIRE(run.status == 0);
  CHECK_THAT(
      run.output,
      Catch::Contains("[split] train") && Catch::Contains("/ judge ") &&
          Catch::Contains("[held_out] 20 held-out requests drawn") &&
          Catch::Contains("[generation] the independent judge finds the attributes of the held out requests in") &&
          Catch::Contains("[generation] in the independent judge's fc7: KID"));
  fs::path run_dir;
  for (const auto& e : fs::directory_iterator(dir / "runs" / "smoke")) run_dir = e.path();
  const auto metrics = test::read_text(run_dir / "metrics.json");
  for (const char* name : {"\"judge_held_out_requested_accuracy\"", "\"held_out_requested_accuracy\"", "\"kid\"",
                           "\"kid_spread\"", "\"kid_real\"", "\"frechet_real\"", "\"kid_per_request\""})
    CHECK_THAT(metrics, Catch::Contains(name));
  const auto md = test::read_text(run_dir / "generation" / "generation.md");
  CHECK_THAT(md, Catch::Contains("| measure | classifier, held out | independent judge, held out |") &&
                     Catch::Contains("80 generated faces against") && Catch::Contains("## Per request"));
  // The judge learned from its own persons only: the run log names its training rows.
  CHECK_THAT(run.output, Catch::Contains("[judge]"));
}
