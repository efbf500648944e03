// `runner sweep`: one pipeline, several values, one table.
#include <cmath>
#include <sstream>

#include <catch2/catch.hpp>

#include "test_support.hpp"

using namespace facet;
namespace fs = std::filesystem;

TEST_CASE("runner sweep: every variant runs, upstream steps are reused, one table", "[runner][sweep]") {
  const auto dir = test::temp_dir("e2e-sweep");
  test::write_text(dir / "subsets.yaml",
                   "name: subsets\npipeline: " + test::source_path("pipelines/smoke.yaml").string() +
                       "\nset: [steps.maps.with.iterations=60]\n"
                       "vary:\n  steps.evaluation.with.subset: [val, test]\n"
                       "collect: [evaluation.mean_accuracy, evaluation.noise_mean_majority]\n");
  const auto r = test::run_runner("sweep subsets.yaml", dir);
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK_THAT(r.output, Catch::Contains("[sweep] variant 1/2: val") && Catch::Contains("[sweep] variant 2/2: test"));
  // The second variant recomputes only what the varied value reaches.
  const auto second = r.output.substr(r.output.find("variant 2/2"));
  CHECK_THAT(second, Catch::Contains("[backbone] cached") && Catch::Contains("[evaluation] running"));
  const auto sweeps = fs::directory_iterator(dir / "runs" / "subsets")->path();
  const auto csv = test::read_text(sweeps / "summary.csv");
  CHECK_THAT(csv, Catch::StartsWith(
                      "steps.evaluation.with.subset,evaluation.mean_accuracy,evaluation.noise_mean_majority,status\n"));
  CHECK_THAT(csv, Catch::Matches("(.|\n)*\nval,0\\.[0-9]{4},0\\.[0-9]{4},ok\ntest,0\\.[0-9]{4},0\\.[0-9]{4},ok\n"));
  CHECK(fs::file_size(sweeps / "summary.png") > 1000);
  CHECK(fs::exists(sweeps / "01_val" / "metrics.json"));
  CHECK(fs::exists(sweeps / "02_test" / "evaluation" / "evaluation.md"));
  // One page compares the variants: the varied setting is highlighted.
  const auto report = test::read_text(sweeps / "report.html");
  CHECK_THAT(report, Catch::Contains("<h1>Sweep subsets over smoke.yaml</h1>") &&
                         Catch::Contains("<code>steps.evaluation.with.subset</code></td><td class=\"differs\">val</td>"
                                         "<td class=\"differs\">test</td>"));
}

TEST_CASE("runner sweep: a bad variant stops the sweep before anything runs", "[runner][sweep][errors]") {
  const auto dir = test::temp_dir("e2e-sweep-bad");
  test::write_text(dir / "bad.yaml", "pipeline: " + test::source_path("pipelines/smoke.yaml").string() +
                                         "\nvary:\n  steps.faces.with.count: [10, -1]\n");
  const auto r = test::run_runner("sweep bad.yaml", dir);
  CHECK(r.status == 2);
  CHECK_THAT(r.output, Catch::Contains("--set steps.faces.with.count=-1: error: step 'faces' (synthfaces): parameter "
                                       "'count' must be int"));
  CHECK_FALSE(fs::exists(dir / "runs"));
  test::write_text(dir / "typo.yaml", "pipeline: nowhere.yaml\nvary: {a: [1]}\ncolect: [x.y]\n");
  const auto t = test::run_runner("sweep typo.yaml", dir);
  CHECK(t.status == 2);
  CHECK_THAT(t.output, Catch::Contains("typo.yaml:3:1: error: unknown sweep key 'colect'; did you mean 'collect'?") &&
                           Catch::Contains("pipeline nowhere.yaml does not exist"));
}

TEST_CASE("runner sweep: every sweep in experiments/ plans every variant", "[runner][sweep]") {
  const auto dir = test::temp_dir("e2e-sweep-shipped");
  int sweeps = 0;
  for (const auto& entry : fs::directory_iterator(test::source_path("experiments"))) {
    if (entry.path().extension() != ".yaml") continue;
    ++sweeps;
    const auto r = test::run_runner("sweep " + entry.path().string() + " --dry-run", dir);
    INFO(entry.path() << "\n" << r.output);
    CHECK(r.status == 0);
    CHECK_THAT(r.output, Catch::Contains("variant 1: ") && Catch::Contains("pipeline baseline"));
  }
  CHECK(sweeps >= 3);
  CHECK_FALSE(fs::exists(dir / "runs"));
}

TEST_CASE("runner sweep: over seeds alone, the table ends with each figure's mean and spread", "[runner][sweep]") {
  const auto dir = test::temp_dir("e2e-sweep-seeds");
  test::write_text(dir / "seeds.yaml", "name: seeds\npipeline: " + test::source_path("pipelines/smoke.yaml").string() +
                                           "\nset: [steps.maps.with.iterations=60]\nvary:\n  seed: [1, 2, 3]\n"
                                           "collect: [evaluation.mean_accuracy]\n");
  const auto r = test::run_runner("sweep seeds.yaml", dir);
  INFO(r.output);
  REQUIRE(r.status == 0);
  const auto csv = test::read_text(fs::directory_iterator(dir / "runs" / "seeds")->path() / "summary.csv");
  INFO(csv);
  std::vector<double> values;
  double mean = -1, spread = -1;
  std::istringstream lines(csv);
  for (std::string line; std::getline(lines, line);) {
    const auto comma = line.find(',');
    const auto value = line.substr(comma + 1, line.find(',', comma + 1) - comma - 1);
    if (line.rfind("mean,", 0) == 0) mean = std::stod(value);
    else if (line.rfind("standard deviation,", 0) == 0) spread = std::stod(value);
    else if (line.find(",ok") != std::string::npos) values.push_back(std::stod(value));
  }
  REQUIRE(values.size() == 3);
  const double expected = (values[0] + values[1] + values[2]) / 3;
  double squares = 0;
  for (double v : values) squares += (v - expected) * (v - expected);
  CHECK(mean == Approx(expected).margin(1e-4));
  CHECK(spread == Approx(std::sqrt(squares / 2)).margin(1e-4));
  CHECK_THAT(csv, Catch::EndsWith(",3 runs\n"));
}
