// Faults injected on purpose: full disks, damaged and changed cache entries,
// misbehaving plugins, hostile names, killed and concurrent runners. Each
// must end in a clear message, the right exit status and no lost or
// half-written data.
#include <hdf5.h>
#include <unistd.h>

#include <regex>

#include <torch/torch.h>
#include <catch2/catch.hpp>

#include "facet/artifact_file.hpp"
#include "test_support.hpp"

using namespace facet;
namespace fs = std::filesystem;

namespace {
const std::string kSmoke = test::source_path("pipelines/smoke.yaml").string();

/// The cache entry of registered step `step` (one is expected).
fs::path entry_of(const fs::path& cache, const std::string& step) {
  std::vector<fs::path> found;
  for (const auto& e : fs::directory_iterator(cache)) {
    const auto name = e.path().filename().string();
    if (name.rfind(step + "-", 0) == 0 && e.path().extension() == ".h5") found.push_back(e.path());
  }
  REQUIRE(found.size() == 1);
  return found.front();
}

std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::recursive_directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

bool any_temporary(const fs::path& dir) {
  for (const auto& name : names_in(dir)) {
    if (name.find(".tmp-") != std::string::npos) return true;
  }
  return false;
}

std::size_t count(const std::string& text, const std::string& word) {
  std::size_t n = 0;
  for (auto at = text.find(word); at != std::string::npos; at = text.find(word, at + 1)) ++n;
  return n;
}

/// Flips 16 bytes in the middle of the first data chunk of `dataset` in `file`.
void flip_chunk_bytes(const fs::path& file, const std::string& dataset) {
  init_hdf5();
  haddr_t address = 0;
  hsize_t size = 0;
  {
    const hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    REQUIRE(f >= 0);
    const hid_t ds = H5Dopen2(f, dataset.c_str(), H5P_DEFAULT);
    REQUIRE(ds >= 0);
    const hid_t space = H5Dget_space(ds);
    hsize_t offset[4] = {};
    unsigned mask = 0;
    REQUIRE(H5Dget_chunk_info(ds, space, 0, offset, &mask, &address, &size) >= 0);
    H5Sclose(space);
    H5Dclose(ds);
    H5Fclose(f);
  }
  REQUIRE(size > 64);
  std::fstream io(file, std::ios::in | std::ios::out | std::ios::binary);
  io.seekg(static_cast<std::streamoff>(address + size / 2));
  char bytes[16];
  io.read(bytes, sizeof bytes);
  for (char& b : bytes) b = static_cast<char>(~b);
  io.seekp(static_cast<std::streamoff>(address + size / 2));
  io.write(bytes, sizeof bytes);
}

/// Overwrites the double file attribute `name` of an HDF5 file in place.
void overwrite_attribute(const fs::path& file, const std::string& name, double value) {
  init_hdf5();
  const hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  REQUIRE(f >= 0);
  const hid_t attr = H5Aopen_by_name(f, "/", name.c_str(), H5P_DEFAULT, H5P_DEFAULT);
  REQUIRE(attr >= 0);
  REQUIRE(H5Awrite(attr, H5T_NATIVE_DOUBLE, &value) >= 0);
  H5Aclose(attr);
  H5Fclose(f);
}

double double_attribute(const fs::path& file, const std::string& name) {
  FileAttrs attrs;
  read_artifact_file(file, &attrs);
  return std::get<double>(attrs.at(name));
}
}  // namespace

TEST_CASE("faults: a full cache disk fails the step in one line, status 1, nothing half-written", "[faults]") {
  const auto dir = test::temp_dir("fault-full-cache");
  fs::create_directories(dir / "small");
  const auto r =
      test::run_in_mount_namespace("mount -t tmpfs -o size=200k tmpfs small || exit 99\n" + test::runner_command() +
                                       " " + kSmoke + " --cache-dir small\necho \"status=$?\"\nls -A small\n",
                                   dir);
  if (!r) {
    WARN("skipped: this machine allows no private mount namespace (unshare -rm)");
    return;
  }
  INFO(r->output);
  CHECK_THAT(r->output, Catch::Contains("status=1\n"));
  CHECK_THAT(r->output, Catch::Contains("[faces] error: step 'faces' (synthfaces) failed: cannot write small/") &&
                            Catch::Contains(": No space left on device\n"));
  CHECK_THAT(r->output, !Catch::Contains("HDF5") && !Catch::Contains("errno"));
  CHECK(r->output.substr(r->output.find("status=1\n") + 9).empty());  // nothing left in the folder
}

TEST_CASE("faults: a full runs folder is an error, status 1, and leaves no empty file", "[faults]") {
  const auto dir = test::temp_dir("fault-full-runs");
  fs::create_directories(dir / "small");
  REQUIRE(test::run_runner(kSmoke, dir).status == 0);  // cached: only the run folder is written below
  const auto r = test::run_in_mount_namespace("mount -t tmpfs -o size=24k tmpfs small || exit 99\n" +
                                                  test::runner_command() + " " + kSmoke +
                                                  " --runs-dir small\necho \"status=$?\"\n"
                                                  "echo empty:; find small -type f -size 0\n",
                                              dir);
  if (!r) {
    WARN("skipped: this machine allows no private mount namespace (unshare -rm)");
    return;
  }
  INFO(r->output);
  CHECK_THAT(r->output, Catch::Contains("status=1\n"));
  CHECK_THAT(r->output, Catch::Contains(": No space left on device"));
  CHECK_THAT(r->output, !Catch::Contains("finished; results in"));
  CHECK_THAT(r->output, Catch::EndsWith("empty:\n"));
}

TEST_CASE("faults: flipped bytes in a cached data chunk are repaired when a step reads them", "[faults]") {
  const auto dir = test::temp_dir("fault-flipped-chunk");
  REQUIRE(test::run_runner(kSmoke + " --until backbone", dir).status == 0);
  const auto faces = entry_of(dir / ".facet-cache", "synthfaces");
  fs::copy_file(faces, dir / "good.h5");
  flip_chunk_bytes(faces, "/images/images");

  auto r = test::run_runner(kSmoke + " --until backbone --rerun backbone", dir);
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK_THAT(r.output,
             Catch::Contains("[faces] warning: cache entry " + (fs::path(".facet-cache") / faces.filename()).string() +
                             " is damaged or foreign (") &&
                 Catch::Contains("damaged data") &&
                 Catch::Contains("moved aside to " + faces.filename().string() + ".damaged"));
  CHECK(count(r.output, "[faces] running") == 1);
  CHECK(count(r.output, "[backbone] running") == 2);  // the failed attempt, then the retry
  CHECK(fs::exists(faces.string() + ".damaged"));
  const auto images = read_artifact_file(faces).at("images").get("images");
  CHECK(torch::equal(images, read_artifact_file(dir / "good.h5").at("images").get("images")));
  // Repaired for good: the next run takes everything from the cache.
  r = test::run_runner(kSmoke + " --until backbone", dir);
  CHECK_THAT(r.output, !Catch::Contains("running"));
}

TEST_CASE("faults: a metric changed in place marks the entry damaged", "[faults]") {
  const auto dir = test::temp_dir("fault-changed-attr");
  REQUIRE(test::run_runner(kSmoke + " --until evaluation", dir).status == 0);
  const auto evaluation = entry_of(dir / ".facet-cache", "evaluate");
  const double truth = double_attribute(evaluation, "metric:mean_accuracy");
  overwrite_attribute(evaluation, "metric:mean_accuracy", 0.999);
  REQUIRE(double_attribute(evaluation, "metric:mean_accuracy") == 0.999);

  const auto r = test::run_runner(kSmoke + " --until evaluation", dir);
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK_THAT(r.output, Catch::Contains("[evaluation] warning: cache entry") && Catch::Contains("digest mismatch") &&
                           Catch::Contains("[evaluation] running"));
  CHECK(double_attribute(evaluation, "metric:mean_accuracy") == truth);
  CHECK_THAT(r.output, !Catch::Contains("0.999"));
}

TEST_CASE("faults: a plugin whose info() throws or that has no step table is skipped, named", "[faults]") {
  const auto dir = test::temp_dir("fault-plugins");
  const fs::path fixtures = FACET_TEST_PLUGIN_DIR;
  for (const auto* name : {"throwing_info", "abi_only"}) {
    fs::copy_file(fixtures / name / fmt::format("lib{}_plugin.so", name), dir / fmt::format("lib{}_plugin.so", name));
  }
  const auto r = test::run_runner("plugins --plugin-path " + dir.string(), dir);
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK_THAT(r.output, Catch::Contains("warning: " + (dir / "libthrowing_info_plugin.so").string() +
                                       ": skipped: this plugin's metadata is broken"));
  CHECK_THAT(r.output, Catch::Contains("warning: " + (dir / "libabi_only_plugin.so").string() +
                                       ": skipped: it exports facet_plugin_abi but no facet_plugin_steps"));
  CHECK_THAT(r.output, Catch::Contains("synthfaces") && Catch::Contains("binarize"));
  CHECK(test::run_runner("describe split --plugin-path " + dir.string(), dir).status == 0);
}

TEST_CASE("faults: a step that throws a non-standard exception fails like any other", "[faults]") {
  const auto dir = test::temp_dir("fault-throw-int");
  test::write_text(dir / "int.yaml", "name: int\nsteps:\n  boom: {uses: faulty}\n");
  const auto plugins = fs::path(FACET_TEST_PLUGIN_DIR) / "throwing_run";
  const auto r = test::run_runner("int.yaml --plugin-path " + plugins.string(), dir);
  INFO(r.output);
  CHECK(r.status == 1);
  CHECK_THAT(r.output, Catch::Contains("[boom] error: step 'boom' (faulty) failed: it threw something that is not a "
                                       "std::exception; this is a bug in libthrowing_run_plugin.so"));
  CHECK_FALSE(any_temporary(dir / ".facet-cache"));
  std::vector<fs::path> runs(fs::directory_iterator(dir / "runs" / "int"), fs::directory_iterator());
  REQUIRE(runs.size() == 1);
  CHECK_THAT(test::read_text(runs[0] / "metrics.json"), Catch::Contains("\"outcome\": \"failed\""));
}

TEST_CASE("faults: a pipeline name must be a plain folder name", "[faults]") {
  const auto dir = test::temp_dir("fault-names");
  for (const std::string name : {"../../escape", "/tmp/absolute", ".hidden", "a/b"}) {
    test::write_text(dir / "p.yaml", "name: " + name + "\nsteps:\n  faces: {uses: synthfaces}\n");
    const auto r = test::run_runner("p.yaml --runs-dir runs", dir);
    INFO(r.output);
    CHECK(r.status == 2);
    CHECK_THAT(r.output, Catch::StartsWith("p.yaml:1:7: error: pipeline name '" + name + "' must be a plain folder"));
  }
  CHECK(names_in(dir) == std::vector<std::string>{"p.yaml"});
}

TEST_CASE("faults: temporaries of killed runners are removed by the next run", "[faults]") {
  const auto dir = test::temp_dir("fault-stale");
  test::write_text(dir / "long.yaml", R"(name: long
steps:
  small: {uses: synthfaces, with: {count: 20, size: 16}}
  big: {uses: synthfaces, with: {count: 2000000, size: 64}}
)");
  // kill -9 while the big step writes its entry.
  const auto killed = test::run_command(test::runner_command() + R"( long.yaml > out.txt 2>&1 &
pid=$!
for i in $(seq 1 1200); do grep -q '\[big\] running' out.txt && break; sleep 0.1; done
sleep 0.5; kill -9 $pid; wait $pid; echo "pid=$pid"; ls .facet-cache)",
                                        dir);
  INFO(killed.output);
  REQUIRE_THAT(killed.output, Catch::Contains(".tmp-"));
  const auto pid = std::regex_replace(killed.output, std::regex("(.|\n)*pid=([0-9]+)(.|\n)*"), "$2");
  // A temporary of a live process stays.
  const auto live = dir / ".facet-cache" / fmt::format("x.h5.tmp-{}", ::getpid());
  test::write_text(live, "being written");

  const auto r = test::run_runner("long.yaml --until small", dir);
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK_THAT(r.output, Catch::Contains("left by runner " + pid + " which no longer runs"));
  CHECK_FALSE(std::regex_search(r.output, std::regex("removed .*x\\.h5")));
  for (const auto& name : names_in(dir / ".facet-cache")) {
    CHECK((name.find(".tmp-") == std::string::npos || name == live.filename().string()));
  }
}

TEST_CASE("faults: a damaged entry in a read-only cache is reported as it is", "[faults]") {
  const auto dir = test::temp_dir("fault-readonly");
  REQUIRE(test::run_runner(kSmoke + " --until faces", dir).status == 0);
  const auto faces = entry_of(dir / ".facet-cache", "synthfaces");
  fs::resize_file(faces, fs::file_size(faces) / 3);
  const auto r = test::run_in_mount_namespace(
      "mount --bind .facet-cache .facet-cache && mount -o remount,bind,ro .facet-cache || exit 99\n" +
          test::runner_command() + " " + kSmoke + " --until faces\necho \"status=$?\"\n",
      dir);
  if (!r) {
    WARN("skipped: this machine allows no private mount namespace (unshare -rm)");
    return;
  }
  INFO(r->output);
  CHECK_THAT(r->output,
             Catch::Contains("is damaged or foreign (") &&
                 Catch::Contains("it could not be moved aside (Read-only file system) and stays where it is"));
  CHECK_THAT(r->output, !Catch::Contains("moved aside to"));
  CHECK_THAT(r->output, Catch::Contains("cannot write in the cache folder .facet-cache (use --cache-dir DIR or "
                                        "--no-cache): Read-only file system"));
  CHECK_THAT(r->output, Catch::Contains("status=1\n"));
  CHECK(fs::exists(faces));
}

TEST_CASE("faults: two runners on one cache compute each step once", "[faults]") {
  const auto dir = test::temp_dir("fault-concurrent");
  const auto r =
      test::run_command(test::runner_command() + " " + kSmoke + " > a.txt 2>&1 & a=$!\n" + test::runner_command() +
                            " " + kSmoke + " > b.txt 2>&1 & b=$!\n" + "wait $a; echo \"a=$?\"; wait $b; echo \"b=$?\"",
                        dir);
  const auto a = test::read_text(dir / "a.txt"), b = test::read_text(dir / "b.txt");
  INFO(a << "\n----\n" << b);
  CHECK_THAT(r.output, Catch::Contains("a=0") && Catch::Contains("b=0"));
  CHECK_THAT(a, Catch::Contains("finished; results in"));
  CHECK_THAT(b, Catch::Contains("finished; results in"));
  for (const auto* id :
       {"faces", "labels", "split", "backbone", "fc7", "evaluation", "maps", "generator", "generation"}) {
    INFO(id);
    const std::string running = std::string("[") + id + "] running";
    CHECK(count(a, running) + count(b, running) == 1);
  }
  CHECK_FALSE(any_temporary(dir / ".facet-cache"));
  for (const auto& name : names_in(dir / ".facet-cache")) CHECK(fs::path(name).extension() == ".h5");
}

TEST_CASE("faults: a bad --set names itself and what is wrong with it", "[faults]") {
  const auto dir = test::temp_dir("fault-set");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"steps.facez.with.count=5",
       "--set steps.facez.with.count=5: error: no step 'facez' in " + kSmoke + "; did you mean 'faces'?"},
      {"steps.faces.with.=1", "--set steps.faces.with.=1: error: 'steps.faces.with.' has an empty name between dots"},
      {"steps..with.count=1", "--set steps..with.count=1: error: 'steps..with.count' has an empty name"},
      {"steps.faces.with.count=", "--set steps.faces.with.count=: error: no value after '='"},
      {"steps.faces.with.cont=5",
       "--set steps.faces.with.cont=5: error: step 'faces' (synthfaces) has no parameter 'cont'; did you mean "
       "'count'?"},
  };
  for (const auto& [set, message] : cases) {
    const auto r = test::run_runner(kSmoke + " --dry-run --set " + set, dir);
    INFO(r.output);
    CHECK(r.status == 2);
    CHECK_THAT(r.output, Catch::StartsWith(message));
  }
}

TEST_CASE("faults: a folder as the pipeline and a missing plugin folder are named", "[faults]") {
  const auto dir = test::temp_dir("fault-paths");
  fs::create_directories(dir / "pipelines");
  auto r = test::run_runner("pipelines", dir);
  CHECK(r.status == 2);
  CHECK(r.output == "pipelines: error: a folder, not a pipeline file\n");
  r = test::run_runner("plugins --plugin-path no-such-folder", dir);
  CHECK(r.status == 0);
  CHECK_THAT(r.output, Catch::StartsWith("warning: plugin folder no-such-folder does not exist; skipped\n"));
  CHECK_THAT(r.output, Catch::Contains("synthfaces"));
}

TEST_CASE("faults: a pipeline of 40,000 steps is validated and planned", "[faults]") {
  // bench/validation_scaling.sh measures how the time grows with the step count.
  const auto dir = test::temp_dir("fault-big");
  std::string yaml = "name: big\nsteps:\n  faces: {uses: synthfaces, with: {count: 10}}\n";
  for (int i = 1; i < 40000; ++i) {
    yaml += fmt::format("  labels{}: {{uses: binarize, inputs: {{attributes: faces.attributes}}}}\n", i);
  }
  test::write_text(dir / "big.yaml", yaml);
  const auto r = test::run_runner("big.yaml --dry-run", dir);
  CHECK(r.status == 0);
  CHECK_THAT(r.output, Catch::StartsWith("pipeline big (40000 steps") && Catch::Contains("labels39999"));
}
