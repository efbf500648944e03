// precision: auto | fp32 | bf16, at the top of a pipeline or in a step's
// `with:`. The CPU is read from a stand-in /proc/cpuinfo (FACET_CPUINFO), so
// that both kinds of machine are tested on whichever this one is.
#include <torch/torch.h>
#include <catch2/catch.hpp>

#include "cache.hpp"
#include "facet/precision.hpp"
#include "pipeline.hpp"
#include "test_support.hpp"

using namespace facet;

namespace {

std::string with_precision(const std::string& top, const std::string& backbone_with) {
  return "name: p\n" + top + R"(steps:
  faces:
    uses: synthfaces
    with: {count: 40, size: 32}
  labels:
    uses: binarize
    inputs: {attributes: faces.attributes}
  split:
    uses: split
    inputs: {people: faces.attributes}
  backbone:
    uses: vggface
    with: {input_size: 32, width: 0.0625)" +
         backbone_with + R"(}
    inputs: {images: faces.images, labels: labels.labels, split: split.split}
)";
}

Pipeline load(const std::string& yaml) {
  const auto file = test::temp_dir("precision") / "p.yaml";
  test::write_text(file, yaml);
  return load_pipeline(file, {}, test::registry());
}

std::string errors_of(const std::string& yaml) {
  try {
    load(yaml);
    return "";
  } catch (const PipelineError& e) {
    std::string all;
    for (const auto& m : e.messages()) all += m + "\n";
    return all;
  }
}

std::string backbone_precision(const Pipeline& p) { return p.find("backbone")->params.get_string("precision"); }

}  // namespace

TEST_CASE("precision: auto is bf16 on a CPU with bfloat16 units, fp32 without; a step may set its own",
          "[pipeline][precision]") {
  {
    test::StandInCpu cpu(true);
    const auto p = load(with_precision("", ""));
    CHECK(p.precision == "auto");
    CHECK(backbone_precision(p) == "bf16");
    CHECK(precision_summary(p) == "precision auto: bf16, Test CPU with bf16 has native bfloat16 units");
    CHECK_THAT(resolved_yaml(p), Catch::Contains("precision: auto") && Catch::Contains("      precision: bf16"));
    CHECK(backbone_precision(load(with_precision("precision: bf16\n", ", precision: fp32"))) == "fp32");
    CHECK(backbone_precision(load(with_precision("precision: fp32\n", ""))) == "fp32");
  }
  test::StandInCpu cpu(false);
  const auto p = load(with_precision("", ""));
  CHECK(backbone_precision(p) == "fp32");
  CHECK(precision_summary(p) == "precision auto: fp32, Test CPU without bf16 has no native bfloat16 units");
  CHECK(backbone_precision(load(with_precision("precision: auto\n", ", precision: auto"))) == "fp32");
}

TEST_CASE("precision: bf16 on a CPU without bfloat16 units is a validation error naming the CPU",
          "[pipeline][precision][errors]") {
  test::StandInCpu cpu(false);
  const auto top = errors_of(with_precision("precision: bf16\n", ""));
  CHECK_THAT(top, Catch::Contains("/p.yaml:2:12: error: precision bf16 asked for, but this CPU (Test CPU without "
                                  "bf16) has no native bfloat16 units") &&
                      Catch::Contains("Use precision: fp32, or auto"));
  CHECK(std::count(top.begin(), top.end(), '\n') == 1);  // once, not again for each step
  const auto step = errors_of(with_precision("", ", precision: bf16"));
  CHECK_THAT(step, Catch::Contains("/p.yaml:14:54: error: precision bf16 asked for"));
  CHECK_THAT(errors_of(with_precision("precision: fp16\n", "")),
             Catch::Contains("unknown precision 'fp16' (expected auto, fp32 or bf16)"));
  CHECK_THAT(errors_of(with_precision("", ", precision: half")),
             Catch::Contains("parameter 'precision' must be one of auto, fp32, bf16"));
}

TEST_CASE("precision joins the cache key of the steps that honour it, and only theirs", "[pipeline][precision]") {
  test::StandInCpu cpu(true);
  const auto fp32 = load(with_precision("precision: fp32\n", ""));
  const auto bf16 = load(with_precision("precision: bf16\n", ""));
  auto key = [](const Pipeline& p, const std::string& id) { return cache_key(*p.find(id), 1, {}, 1); };
  CHECK(key(fp32, "backbone") != key(bf16, "backbone"));
  CHECK(key(fp32, "faces") == key(bf16, "faces"));
  CHECK(key(bf16, "backbone") == key(load(with_precision("", "")), "backbone"));  // auto resolved before keying
}

TEST_CASE("Autocast runs matrix products in bfloat16 inside its scope only", "[precision]") {
  const auto a = torch::randn({8, 8}), b = torch::randn({8, 8});
  {
    Autocast bf16("bf16", torch::kCPU);
    CHECK(torch::mm(a, b).scalar_type() == torch::kBFloat16);
    {
      Autocast nested("fp32", torch::kCPU);  // fp32 changes nothing, not even inside bf16
      CHECK(torch::mm(a, b).scalar_type() == torch::kBFloat16);
    }
    CHECK(torch::mm(a, b).scalar_type() == torch::kBFloat16);
  }
  CHECK(torch::mm(a, b).scalar_type() == torch::kFloat32);
  Autocast fp32("fp32", torch::kCPU);
  CHECK(torch::mm(a, b).scalar_type() == torch::kFloat32);
}

TEST_CASE("runner says how the pipeline's precision resolved on this CPU", "[pipeline][precision]") {
  const auto dir = test::temp_dir("precision-runner");
  test::write_text(dir / "p.yaml", with_precision("", ""));
  {
    test::StandInCpu cpu(true);  // the runner inherits FACET_CPUINFO
    const auto r = test::run_runner("p.yaml --dry-run", dir);
    INFO(r.output);
    CHECK(r.status == 0);
    CHECK_THAT(r.output, Catch::Contains("precision auto: bf16, Test CPU with bf16 has native bfloat16 units"));
  }
  test::StandInCpu cpu(false);
  const auto r = test::run_runner("p.yaml --until faces --cache-dir cache --runs-dir runs", dir);
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK_THAT(r.output, Catch::Contains("precision auto: fp32, Test CPU without bf16 has no native bfloat16 units"));
}
