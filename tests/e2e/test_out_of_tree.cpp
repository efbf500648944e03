// A plugin built against the installed SDK, loaded by the unchanged runner.
#include <catch2/catch.hpp>

#include "test_support.hpp"

using namespace facet;
namespace fs = std::filesystem;

TEST_CASE("an out-of-tree plugin builds against the installed SDK and runs in a pipeline", "[runner][sdk]") {
  const auto dir = test::temp_dir("out-of-tree");
  const std::string cmake = FACET_CMAKE_COMMAND;
  auto r = test::run_command(cmake + " --install '" FACET_BINARY_DIR "' --prefix prefix", dir);
  INFO(r.output);
  REQUIRE(r.status == 0);
  r = test::run_command(cmake + " -S '" + test::source_path("tests/out_of_tree_plugin").string() +
                            "' -B build -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH=" + (dir / "prefix").string() +
                            " && " + cmake + " --build build",
                        dir);
  INFO(r.output);
  REQUIRE(r.status == 0);
  REQUIRE(fs::exists(dir / "build" / "lib" / "facet" / "plugins" / "libfacet_mean_scores.so"));

  test::write_text(dir / "p.yaml", R"(name: oot
steps:
  faces: {uses: synthfaces, with: {count: 30, size: 16}}
  means:
    uses: mean_scores
    with: {scale: 2.0}
    inputs: {attributes: faces.attributes}
)");
  // The installed runner, its installed plugins, and the new one by --plugin-path.
  r = test::run_command("prefix/bin/runner p.yaml --plugin-path build/lib/facet/plugins", dir);
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK_THAT(r.output, Catch::Contains("[means] running mean_scores 1.0") && Catch::Contains("[means] done"));
  CHECK_THAT(test::read_text(fs::directory_iterator(dir / "runs" / "oot")->path() / "metrics.json"),
             Catch::Contains("\"overall_mean\""));
}
