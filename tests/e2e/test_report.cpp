// report.html: every run writes one; `runner report` compares runs; a real
// browser renders it (tests/browser/check_report.mjs, headless Chromium).
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "test_support.hpp"

using namespace facet;
namespace fs = std::filesystem;

namespace {
const std::string kSmoke = test::source_path("pipelines/smoke.yaml").string();

fs::path newest_run(const fs::path& runs) {
  std::vector<fs::path> dirs;
  for (const auto& e : fs::directory_iterator(runs)) dirs.push_back(e.path());
  REQUIRE_FALSE(dirs.empty());
  std::sort(dirs.begin(), dirs.end());
  return dirs.back();
}

/// The metric as metrics.json holds it and as the report prints it ({:.6g}).
std::string metric_text(const fs::path& run, const std::string& step, const std::string& name) {
  const auto metrics = nlohmann::json::parse(test::read_text(run / "metrics.json"));
  return fmt::format("{:.6g}", metrics["steps"][step]["metrics"][name].get<double>());
}
}  // namespace

TEST_CASE("report: every run writes report.html with steps, metrics, curves and figures inline", "[runner][report]") {
  const auto dir = test::temp_dir("report-smoke");
  REQUIRE(test::run_runner(kSmoke, dir).status == 0);
  const auto run = newest_run(dir / "runs" / "smoke");
  const auto html = test::read_text(run / "report.html");
  for (const auto* id :
       {"faces", "labels", "split", "backbone", "fc7", "evaluation", "maps", "generator", "generation"}) {
    CHECK_THAT(html, Catch::Contains(fmt::format("<section class=\"step\" id=\"step-{}\">", id)));
  }
  CHECK_THAT(html, Catch::Contains(metric_text(run, "evaluation", "mean_accuracy")));
  CHECK_THAT(html, Catch::Contains("<img alt=\"samples.png\" src=\"data:image/png;base64,iVBOR"));
  CHECK_THAT(html, Catch::Contains("\"label\":\"train/loss\"") && Catch::Contains("\"label\":\"train/-ELBO\""));
  CHECK_THAT(html, Catch::Contains("<table>\n<thead>"));                                // evaluation.md as a table
  CHECK_THAT(html, !Catch::Contains("src=\"http") && !Catch::Contains("href=\"http"));  // nothing to fetch
  // The curves are data too, in the run folder and in the cache entry.
  CHECK_THAT(test::read_text(run / "backbone" / "scalars.csv"),
             Catch::StartsWith("series,step,value\ntrain/loss,1,") && Catch::Contains("\nval/accuracy,1,"));
  // A cached run writes the same curves again.
  REQUIRE(test::run_runner(kSmoke, dir).status == 0);
  CHECK(test::read_text(newest_run(dir / "runs" / "smoke") / "backbone" / "scalars.csv") ==
        test::read_text(run / "backbone" / "scalars.csv"));
}

TEST_CASE("report: a failed run's report says where and why it stopped", "[runner][report]") {
  const auto dir = test::temp_dir("report-failed");
  test::write_text(dir / "int.yaml",
                   "name: int\nsteps:\n  faces: {uses: synthfaces, with: {count: 20, size: 16}}\n"
                   "  boom: {uses: faulty}\n  after: {uses: binarize, inputs: {attributes: faces.attributes}}\n");
  const auto plugins = fs::path(FACET_TEST_PLUGIN_DIR) / "throwing_run";
  const auto r = test::run_runner("int.yaml --plugin-path " + plugins.string(), dir);
  REQUIRE(r.status == 1);
  const auto html = test::read_text(newest_run(dir / "runs" / "int") / "report.html");
  CHECK_THAT(html,
             Catch::Contains("<p class=\"banner failed\">Failed at step <a href=\"#step-boom\">boom</a>: it threw "
                             "something that is not a std::exception"));
  CHECK_THAT(html, Catch::Contains("<td class=\"not run\">not run</td>"));  // 'after' was never reached
}

TEST_CASE("report: runner report compares runs, highlighting the settings that differ", "[runner][report]") {
  const auto dir = test::temp_dir("report-compare");
  REQUIRE(test::run_runner(kSmoke + " --until backbone", dir).status == 0);
  REQUIRE(test::run_runner(kSmoke + " --until backbone --set steps.backbone.with.lr=0.002", dir).status == 0);
  std::vector<fs::path> runs;
  for (const auto& e : fs::directory_iterator(dir / "runs" / "smoke")) runs.push_back(e.path());
  std::sort(runs.begin(), runs.end());
  REQUIRE(runs.size() == 2);
  const auto r = test::run_runner("report " + runs[0].string() + " " + runs[1].string() + " --out both.html", dir);
  INFO(r.output);
  REQUIRE(r.status == 0);
  const auto html = test::read_text(dir / "both.html");
  CHECK_THAT(html, Catch::Contains("<code>steps.backbone.with.lr</code></td><td class=\"differs\">0.001</td>"
                                   "<td class=\"differs\">0.002</td>"));
  CHECK_THAT(html, Catch::Contains("backbone.best_val_accuracy") && Catch::Contains("Δ "));
  CHECK_THAT(html, Catch::Contains(runs[1].filename().string() + ": train/loss"));  // curves overlaid
  // One folder: its report is written again; a folder that is no run is named.
  fs::remove(runs[0] / "report.html");
  REQUIRE(test::run_runner("report " + runs[0].string(), dir).status == 0);
  CHECK(fs::exists(runs[0] / "report.html"));
  const auto bad = test::run_runner("report " + dir.string(), dir);
  CHECK(bad.status == 2);
  CHECK_THAT(bad.output, Catch::Contains("not a run folder (it has no metrics.json)"));
}

TEST_CASE("report: the smoke run's report renders in headless Chromium", "[runner][report][browser]") {
  const auto script = test::source_path("tests/browser/check_report.mjs");
  if (!fs::exists(test::source_path("tests/browser/node_modules/playwright-core"))) {
    WARN("skipped: playwright-core is not installed (third_party/install.sh runs npm ci in tests/browser)");
    return;
  }
  const auto dir = test::temp_dir("report-browser");
  REQUIRE(test::run_runner(kSmoke, dir).status == 0);
  const auto run = newest_run(dir / "runs" / "smoke");
  const auto shot = fs::path(FACET_BINARY_DIR) / "report-screenshot.png";
  const auto r = test::run_command(
      fmt::format("node '{}' '{}' '{}'", script.string(), (run / "report.html").string(), shot.string()), dir);
  if (r.status == 3) {
    WARN("skipped: " << r.output);
    return;
  }
  INFO(r.output);
  REQUIRE(r.status == 0);
  const auto page = nlohmann::json::parse(r.output);
  CHECK(page["errors"].empty());
  const auto steps = page["steps"].get<std::vector<std::string>>();
  CHECK(steps == std::vector<std::string>{"step-faces", "step-labels", "step-split", "step-backbone", "step-fc7",
                                          "step-evaluation", "step-maps", "step-generator", "step-generation"});
  const auto text = page["text"].get<std::string>();
  CHECK_THAT(text, Catch::Contains(metric_text(run, "evaluation", "mean_accuracy")) &&
                       Catch::Contains(metric_text(run, "generation", "requested_accuracy")));
  CHECK(page["images"].size() >= 5);
  for (const auto& image : page["images"]) {
    INFO(image.dump());
    CHECK(image["width"].get<int>() > 0);
    CHECK(image["height"].get<int>() > 0);
  }
  CHECK(page["chartLibrary"].get<bool>());
  CHECK(page["charts"].size() >= 4);  // backbone: loss, accuracy, lr; generator: -ELBO, KL
  for (const auto& chart : page["charts"]) {
    INFO(chart.dump());
    CHECK(chart["painted"].get<int>() > 1000);
  }
  CHECK(fs::file_size(shot) > 10000);
  std::cout << "report screenshot: " << shot.string() << '\n';
}
