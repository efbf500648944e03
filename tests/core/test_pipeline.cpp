#include <catch2/catch.hpp>

#include "pipeline.hpp"
#include "test_support.hpp"

using namespace facet;

namespace {
/// Validates `yaml` and returns every error, one per line ("" when valid).
std::string errors_of(const std::string& yaml, const std::vector<std::string>& overrides = {}) {
  const auto file = test::temp_dir("pipeline") / "p.yaml";
  test::write_text(file, yaml);
  try {
    load_pipeline(file, overrides, test::registry());
    return "";
  } catch (const PipelineError& e) {
    std::string all;
    for (const auto& m : e.messages()) all += m + "\n";
    return all;
  }
}

const char* kGood = R"(name: good
seed: 3
steps:
  faces:
    uses: synthfaces
    with: {count: 10, size: 32}
  labels:
    uses: binarize
    inputs: {attributes: faces.attributes}
)";
}  // namespace

TEST_CASE("a valid pipeline resolves every parameter", "[pipeline]") {
  const auto file = test::temp_dir("pipeline-good") / "p.yaml";
  test::write_text(file, kGood);
  const Pipeline p = load_pipeline(file, {"steps.faces.with.count=12"}, test::registry());
  CHECK(p.name == "good");
  CHECK(p.seed == 3);
  REQUIRE(p.steps.size() == 2);
  CHECK(p.steps[0].params.get_int("count") == 12);
  CHECK(p.steps[0].params.get_float("label_noise") == 0.01);  // default filled in
  const auto yaml = resolved_yaml(p);
  CHECK_THAT(yaml, Catch::Contains("count: 12") && Catch::Contains("label_noise: 0.01") &&
                       Catch::Contains("attributes: faces.attributes") && Catch::Contains("mode: binary"));
}

TEST_CASE("steps run in dependency order whatever the file order", "[pipeline]") {
  const auto file = test::temp_dir("pipeline-order") / "p.yaml";
  test::write_text(file, R"(steps:
  labels: {uses: binarize, inputs: {attributes: faces.attributes}}
  faces: {uses: synthfaces, with: {count: 5}}
)");
  const Pipeline p = load_pipeline(file, {}, test::registry());
  CHECK(p.steps[0].id == "faces");
  CHECK(p.steps[1].id == "labels");
}

TEST_CASE("YAML syntax errors give file:line:col", "[pipeline][errors]") {
  const auto e = errors_of("steps:\n  faces: {uses: synthfaces\n  labels: [\n");
  CHECK_THAT(e, Catch::Matches(".*p\\.yaml:3:9: error: YAML syntax: end of map flow not found\n"));
}

TEST_CASE("unknown steps list the known ones and the nearest", "[pipeline][errors]") {
  const auto e = errors_of("steps:\n  faces:\n    uses: synthface\n");
  CHECK_THAT(e, Catch::Contains("p.yaml:3:11: error: unknown step 'synthface'; did you mean 'synthfaces'?") &&
                    Catch::Contains("(known steps: binarize, ") && Catch::Contains(", synthfaces, vggface"));
}

TEST_CASE("unknown, ill-typed and out-of-range parameters say what is allowed", "[pipeline][errors]") {
  CHECK_THAT(errors_of("steps:\n  faces:\n    uses: synthfaces\n    with: {cont: 3}\n"),
             Catch::Contains("p.yaml:4:12: error: step 'faces' (synthfaces) has no parameter 'cont'; did you mean "
                             "'count'? (parameters: count, size, persons, label_noise)"));
  CHECK_THAT(errors_of("steps:\n  faces:\n    uses: synthfaces\n    with: {count: many}\n"),
             Catch::Contains("parameter 'count' must be int, 1 <= x <= 10000000, got 'many'"));
  CHECK_THAT(errors_of("steps:\n  faces:\n    uses: synthfaces\n    with: {count: 2.5}\n"),
             Catch::Contains("parameter 'count' must be int"));
  CHECK_THAT(errors_of("steps:\n  faces:\n    uses: synthfaces\n    with: {label_noise: 0.9}\n"),
             Catch::Contains("p.yaml:4:25: error: step 'faces' (synthfaces): parameter 'label_noise' must be float, "
                             "0 <= x <= 0.5, got 0.9"));
  CHECK_THAT(errors_of("steps:\n  l:\n    uses: binarize\n    with: {mode: group}\n    inputs: {attributes: l.x}\n"),
             Catch::Contains("parameter 'mode' must be one of binary, grouped, got 'group'; did you mean 'grouped'?"));
}

TEST_CASE("inputs must name existing steps and outputs", "[pipeline][errors]") {
  const std::string head = "steps:\n  faces: {uses: synthfaces}\n  labels:\n    uses: binarize\n";
  CHECK_THAT(errors_of(head + "    inputs: {attributes: facs.attributes}\n"),
             Catch::Contains("names step 'facs', which is not in this pipeline; did you mean 'faces'? (steps: "
                             "faces, labels)"));
  CHECK_THAT(errors_of(head + "    inputs: {attributes: faces.attribute}\n"),
             Catch::Contains("names output 'attribute' of step 'faces' (synthfaces), which does not exist; did you "
                             "mean 'attributes'? (its outputs: images, attributes)"));
  CHECK_THAT(errors_of(head + "    inputs: {atributes: faces.attributes}\n"),
             Catch::Contains("has no input 'atributes'; did you mean 'attributes'?"));
  CHECK_THAT(errors_of(head),
             Catch::Contains("p.yaml:3:3: error: input 'attributes' of step 'labels' (binarize) is not connected"));
}

TEST_CASE("cycles are spelled out", "[pipeline][errors]") {
  const auto e = errors_of(R"(steps:
  a: {uses: binarize, inputs: {attributes: c.labels}}
  b: {uses: binarize, inputs: {attributes: a.labels}}
  c: {uses: binarize, inputs: {attributes: b.labels}}
)");
  CHECK_THAT(e, Catch::Contains("the steps form a cycle: a -> b -> c -> a"));
}

TEST_CASE("every problem is reported at once", "[pipeline][errors]") {
  const auto e = errors_of("sed: 1\nsteps:\n  faces: {uses: synthfaces, with: {size: 2}}\n  x: {uses: nothing}\n");
  CHECK_THAT(e, Catch::Contains("unknown top-level key 'sed'; did you mean 'seed'?") &&
                    Catch::Contains("parameter 'size'") && Catch::Contains("unknown step 'nothing'"));
}

TEST_CASE("overrides from --set: errors point at the override", "[pipeline][errors]") {
  CHECK_THAT(errors_of(kGood, {"steps.faces.with.count=-1"}),
             Catch::Contains("--set steps.faces.with.count=-1: error: step 'faces' (synthfaces): parameter 'count'"));
  CHECK_THAT(errors_of(kGood, {"steps.faces.with.colour=red"}),
             Catch::Contains("--set steps.faces.with.colour=red: error: step 'faces' (synthfaces) has no parameter "
                             "'colour'"));
  CHECK_THAT(errors_of(kGood, {"nonsense"}), Catch::Contains("expected PATH=VALUE"));
}

TEST_CASE("asking for a GPU that is not there is an error", "[pipeline][errors]") {
  if (torch::cuda::is_available()) return;  // only meaningful without a GPU
  CHECK_THAT(errors_of(std::string("device: cuda\n") + kGood),
             Catch::Contains("p.yaml:1:9: error: device 'cuda' asked for, but no CUDA GPU is available") &&
                 Catch::Contains("use device: cpu"));
}

TEST_CASE("shapes found by fuzzing are located errors, not crashes", "[pipeline][errors]") {
  // tests/fuzz/regressions/fuzz_pipeline holds the fuzzer's inputs themselves.
  CHECK_THAT(errors_of("just a comment and a scalar\n", {"steps.faces.with.count=2"}),
             Catch::Contains("--set steps.faces.with.count=2: error: ") && Catch::Contains("p.yaml is not a mapping"));
  CHECK_THAT(errors_of("steps:\n  [a, b]: {uses: synthfaces}\n"), Catch::Contains("p.yaml:2:3: error: "));
  CHECK_THAT(errors_of("steps:\n  faces: {uses: synthfaces, with: {[count]: 1}}\n"), Catch::Contains("p.yaml:2:"));
}
