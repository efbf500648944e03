// The real runner binary on small pipelines.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include <torch/torch.h>
#include <catch2/catch.hpp>

#include "facet/artifact_file.hpp"
#include "facet/export.hpp"
#include "test_support.hpp"

using namespace facet;
namespace fs = std::filesystem;

namespace {
const std::string kSmoke = test::source_path("pipelines/smoke.yaml").string();

std::vector<fs::path> cache_files(const fs::path& dir) {
  std::vector<fs::path> files;
  if (!fs::exists(dir)) return files;
  for (const auto& e : fs::directory_iterator(dir)) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

/// Whether two artifact files hold the same tensors and attributes.
bool same_contents(const fs::path& a, const fs::path& b) {
  const auto x = read_artifact_file(a), y = read_artifact_file(b);
  if (x.size() != y.size()) return false;
  for (const auto& [name, artifact] : x) {
    const auto& other = y.at(name);
    if (artifact.tensor_names() != other.tensor_names() || artifact.attrs() != other.attrs()) return false;
    for (const auto& t : artifact.tensor_names()) {
      if (!torch::equal(artifact.get(t), other.get(t))) return false;
    }
  }
  return true;
}

fs::path only_run_dir(const fs::path& runs) {
  std::vector<fs::path> dirs;
  for (const auto& e : fs::recursive_directory_iterator(runs)) {
    if (e.is_directory() && fs::exists(e.path() / "metrics.json")) dirs.push_back(e.path());
  }
  REQUIRE(dirs.size() == 1);
  return dirs.front();
}
}  // namespace

TEST_CASE("runner: smoke twice, the second run all cached with identical outputs", "[runner]") {
  const auto dir = test::temp_dir("e2e-smoke");
  const auto first = test::run_runner(kSmoke, dir);
  INFO(first.output);
  REQUIRE(first.status == 0);
  CHECK_THAT(first.output, Catch::Contains("[faces] running synthfaces") && Catch::Contains("[split] done"));
  const auto run_dir = only_run_dir(dir / "runs");
  CHECK_THAT(test::read_text(run_dir / "metrics.json"),
             Catch::Contains("\"outcome\": \"ok\"") && Catch::Contains("\"train_images\""));
  CHECK_THAT(test::read_text(run_dir / "pipeline.yaml"), Catch::Contains("label_noise: 0.01"));
  CHECK_THAT(test::read_text(run_dir / "run.log"), Catch::Contains("[labels] running binarize"));
  const auto entries = cache_files(dir / ".facet-cache");
  CHECK(entries.size() == 9);  // one per step

  const auto second = test::run_runner(kSmoke, dir);
  INFO(second.output);
  REQUIRE(second.status == 0);
  for (const auto* id :
       {"faces", "labels", "split", "backbone", "fc7", "evaluation", "maps", "generator", "generation"}) {
    CHECK_THAT(second.output, Catch::Contains(std::string("[") + id + "] cached"));
  }
  // Files a step saved reach every run folder, the cached run's too.
  for (const auto& run : fs::directory_iterator(dir / "runs" / "smoke")) {
    CHECK_THAT(test::read_text(run.path() / "evaluation" / "evaluation.md"),
               Catch::Contains("# Evaluation on the test split"));
  }
  CHECK_THAT(second.output, !Catch::Contains("running"));
  CHECK(cache_files(dir / ".facet-cache") == entries);

  // A fresh cache computes the same bytes: same pipeline, same numbers.
  const auto third = test::run_runner(kSmoke + " --cache-dir other-cache", dir);
  REQUIRE(third.status == 0);
  const auto again = cache_files(dir / "other-cache");
  REQUIRE(again.size() == entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    INFO(entries[i].filename());
    CHECK(entries[i].filename() == again[i].filename());
    CHECK(same_contents(entries[i], again[i]));
  }
}

TEST_CASE("runner: --dry-run, --until, --rerun, --set, --no-cache", "[runner]") {
  const auto dir = test::temp_dir("e2e-options");
  auto r = test::run_runner(kSmoke + " --until labels", dir);
  REQUIRE(r.status == 0);
  CHECK_THAT(r.output, Catch::Contains("[labels] done") && !Catch::Contains("[split]"));

  const auto runs_before = std::distance(fs::directory_iterator(dir / "runs" / "smoke"), fs::directory_iterator());
  r = test::run_runner(kSmoke + " --dry-run", dir);
  REQUIRE(r.status == 0);
  CHECK_THAT(r.output, Catch::Matches("(.|\n)*faces +synthfaces +[0-9a-f]{12}  cached(.|\n)*"));
  CHECK_THAT(r.output, Catch::Matches("(.|\n)*split +split +[0-9a-f]{12}  run\n(.|\n)*"));
  CHECK(std::distance(fs::directory_iterator(dir / "runs" / "smoke"), fs::directory_iterator()) == runs_before);

  // --rerun recomputes the step and everything downstream of it, never a stale descendant.
  REQUIRE(test::run_runner(kSmoke, dir).status == 0);  // everything cached now
  r = test::run_runner(kSmoke + " --rerun labels", dir);
  REQUIRE(r.status == 0);
  CHECK_THAT(r.output, Catch::Contains("[faces] cached") && Catch::Contains("[split] cached") &&
                           Catch::Contains("[labels] running") && Catch::Contains("[backbone] running") &&
                           Catch::Contains("[evaluation] running"));

  r = test::run_runner(kSmoke + " --set steps.faces.with.count=50 --dry-run", dir);
  CHECK_THAT(r.output, Catch::Matches("(.|\n)*faces +synthfaces +[0-9a-f]{12}  run\n(.|\n)*"));

  const auto before = cache_files(dir / ".facet-cache");
  r = test::run_runner(kSmoke + " --no-cache --runs-dir elsewhere", dir);
  REQUIRE(r.status == 0);
  CHECK(cache_files(dir / ".facet-cache") == before);
  CHECK(fs::exists(dir / "elsewhere" / "smoke"));

  r = test::run_runner(kSmoke + " --until lables", dir);
  CHECK(r.status == 2);
  CHECK_THAT(r.output, Catch::Contains("no step 'lables' in pipeline smoke; did you mean 'labels'?"));
}

TEST_CASE("runner: bad pipelines fail before anything runs", "[runner][errors]") {
  const auto dir = test::temp_dir("e2e-bad");
  test::write_text(dir / "bad.yaml", "steps:\n  faces:\n    uses: synthfaces\n    with: {count: 0}\n");
  const auto r = test::run_runner("bad.yaml", dir);
  CHECK(r.status == 2);
  CHECK(r.output ==
        "bad.yaml:4:19: error: step 'faces' (synthfaces): parameter 'count' must be int, "
        "1 <= x <= 10000000, got 0\n");
  CHECK_FALSE(fs::exists(dir / "runs"));
  CHECK_FALSE(fs::exists(dir / ".facet-cache"));
  CHECK(test::run_runner("missing.yaml", dir).output == "missing.yaml: error: cannot read the pipeline file\n");
}

TEST_CASE("runner: plugins and describe", "[runner]") {
  const auto dir = test::temp_dir("e2e-describe");
  auto r = test::run_runner("plugins", dir);
  CHECK(r.status == 0);
  CHECK_THAT(r.output, Catch::Contains("synthfaces") && Catch::Contains("binarize") && Catch::Contains("split"));
  r = test::run_runner("describe synthfaces", dir);
  CHECK_THAT(r.output,
             Catch::Contains("count") && Catch::Contains("1 <= x <= 10000000") && Catch::Contains("outputs:"));
  r = test::run_runner("describe synthface", dir);
  CHECK(r.status == 2);
  CHECK_THAT(r.output, Catch::Contains("unknown step 'synthface'; did you mean 'synthfaces'?"));

  const auto mixed = test::temp_dir("e2e-mixed-plugins");
  fs::copy_file(fs::path(FACET_TEST_PLUGIN_DIR) / "libabi_mismatch_plugin.so", mixed / "libabi_mismatch_plugin.so");
  fs::copy_file(fs::path(FACET_TEST_PLUGIN_DIR) / "libnot_a_plugin.so", mixed / "libnot_a_plugin.so");
  r = test::run_runner("plugins --plugin-path " + mixed.string(), dir);
  CHECK(r.status == 1);
  CHECK_THAT(r.output, Catch::Contains("error: " + (mixed / "libabi_mismatch_plugin.so").string() +
                                       ": built against facet SDK ABI 999, this runner has ABI " +
                                       std::to_string(FACET_SDK_ABI_VERSION) + "; rebuild the plugin"));
  CHECK_THAT(r.output, Catch::Contains("warning: " + (mixed / "libnot_a_plugin.so").string() + ": not a facet plugin"));
  CHECK_THAT(r.output, Catch::Contains("synthfaces"));

  // The runner's own plugin folder named again (with a trailing slash) is searched once.
  r = test::run_runner(std::string("plugins --plugin-path ") + FACET_PLUGIN_DIR + "/", dir);
  CHECK(r.status == 0);
  CHECK_THAT(r.output, !Catch::Contains("already provided"));
}

TEST_CASE("runner: a damaged cache entry is detected and recomputed", "[runner][cache]") {
  const auto dir = test::temp_dir("e2e-damaged");
  REQUIRE(test::run_runner(kSmoke, dir).status == 0);
  fs::path faces;
  for (const auto& f : cache_files(dir / ".facet-cache")) {
    if (f.filename().string().rfind("synthfaces-", 0) == 0) faces = f;
  }
  REQUIRE(!faces.empty());
  fs::copy_file(faces, dir / "good.h5");
  fs::resize_file(faces, fs::file_size(faces) / 3);

  const auto r = test::run_runner(kSmoke, dir);
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK_THAT(r.output,
             Catch::Contains("[faces] warning: cache entry " + (fs::path(".facet-cache") / faces.filename()).string() +
                             " is damaged or foreign") &&
                 Catch::Contains("recomputing") && Catch::Contains("[faces] running") &&
                 Catch::Contains("[labels] cached"));
  CHECK(same_contents(faces, dir / "good.h5"));
}

TEST_CASE("runner: Ctrl-C stops cleanly and the next run resumes at the interrupted step", "[runner][signal]") {
  const auto dir = test::temp_dir("e2e-interrupt");
  test::write_text(dir / "long.yaml", R"(name: long
steps:
  small: {uses: synthfaces, with: {count: 20, size: 16}}
  big: {uses: synthfaces, with: {count: 2000000, size: 64}}
)");
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::chdir(dir.c_str());
    ::freopen("out.txt", "w", stderr);
    ::execl(FACET_RUNNER, FACET_RUNNER, "long.yaml", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  // Wait until the big step has started writing, then interrupt it.
  for (int i = 0; i < 200 && test::read_text(dir / "out.txt").find("[big] running") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  ::kill(pid, SIGINT);
  int status = 0;
  ::waitpid(pid, &status, 0);
  const auto out = test::read_text(dir / "out.txt");
  INFO(out);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 130);
  CHECK_THAT(out, Catch::Contains("[big] error: interrupted"));
  const auto files = cache_files(dir / ".facet-cache");
  REQUIRE(files.size() == 1);  // the complete small step only: no partial or temporary file
  CHECK(files[0].extension() == ".h5");
  const auto plan = test::run_runner("long.yaml --dry-run", dir);
  CHECK_THAT(
      plan.output,
      Catch::Matches("(.|\n)*small +synthfaces +[0-9a-f]{12}  cached\n +big +synthfaces +[0-9a-f]{12}  run\n(.|\n)*"));
}

TEST_CASE("runner: OpenMP's threads spin briefly before they sleep unless the user chose a policy", "[runner]") {
  const auto dir = test::temp_dir("wait_policy");
  const std::string smoke = test::source_path("pipelines/smoke.yaml").string();
  // libgomp prints its settings when LibTorch loads: once as started (spinning 300000 times before it
  // sleeps), and once more after the runner restarts itself (1000 times).
  const auto chosen_by_runner =
      test::run_command("env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT OMP_DISPLAY_ENV=verbose " + test::runner_command() +
                            " " + smoke + " --until faces --cache-dir cache --runs-dir runs",
                        dir);
  INFO(chosen_by_runner.output);
  CHECK(chosen_by_runner.status == 0);
  CHECK(chosen_by_runner.output.find("GOMP_SPINCOUNT = '1000'") != std::string::npos);
  const auto chosen_by_user =
      test::run_command("OMP_WAIT_POLICY=ACTIVE OMP_DISPLAY_ENV=verbose " + test::runner_command() + " " + smoke +
                            " --until faces --cache-dir cache --runs-dir runs",
                        dir);
  INFO(chosen_by_user.output);
  CHECK(chosen_by_user.output.find("OMP_WAIT_POLICY = 'ACTIVE'") != std::string::npos);
  CHECK(chosen_by_user.output.find("GOMP_SPINCOUNT = '1000'") == std::string::npos);
}
