#include <catch2/catch.hpp>

#include "describe.hpp"
#include "facet/export.hpp"
#include "facet/markdown.hpp"
#include "test_support.hpp"

using namespace facet;

TEST_CASE("the registry loads every plugin of the build", "[registry]") {
  const auto& r = test::registry();
  CHECK(r.find("synthfaces") != nullptr);
  CHECK(r.find("binarize") != nullptr);
  CHECK(r.find("split") != nullptr);
  CHECK(r.problems().empty());
}

TEST_CASE("a plugin of another ABI is refused, a foreign library skipped, the rest load", "[registry]") {
  const auto dir = test::temp_dir("mixed-plugins");
  for (const auto& name : {"libabi_mismatch_plugin.so", "libnot_a_plugin.so"}) {
    std::filesystem::copy_file(std::filesystem::path(FACET_TEST_PLUGIN_DIR) / name, dir / name);
  }
  test::write_text(dir / "libgarbage.so", "this is not a library");
  PluginRegistry r;
  r.load_dirs({dir, FACET_PLUGIN_DIR});
  CHECK(r.find("synthfaces") != nullptr);
  std::string all;
  for (const auto& p : r.problems()) all += (p.is_error ? "E " : "W ") + p.message + "\n";
  CHECK_THAT(all, Catch::Contains("E " + (dir / "libabi_mismatch_plugin.so").string() +
                                  ": built against facet SDK ABI 999, this runner has ABI " +
                                  std::to_string(FACET_SDK_ABI_VERSION)));
  CHECK_THAT(all, Catch::Contains("W " + (dir / "libnot_a_plugin.so").string() + ": not a facet plugin"));
  CHECK_THAT(all, Catch::Contains("W " + (dir / "libgarbage.so").string() + ": not a loadable shared library"));
}

TEST_CASE("describe prints parameters, inputs and outputs from the metadata", "[registry]") {
  const auto text = describe_step(*test::registry().find("binarize"));
  CHECK_THAT(text, Catch::Contains("binarize 1.1") && Catch::Contains("margin") && Catch::Contains("x >= 0") &&
                       Catch::Contains("inputs:\n  attributes") && Catch::Contains("outputs:\n  labels"));
}

TEST_CASE("a '|' in a parameter's text does not break its Markdown table row", "[registry][docs]") {
  CHECK(markdown_cell("|score| < margin\nnext") == "\\|score\\| < margin next");
  const auto text = describe_step_markdown(*test::registry().find("binarize"));
  const auto row = text.substr(text.find("| `margin` |"));
  const auto line = row.substr(0, row.find('\n'));
  CHECK_THAT(line, Catch::Contains("scores with \\|score\\| < margin"));
  // Five unescaped bars: four cells.
  int bars = 0;
  for (size_t i = 0; i < line.size(); ++i) bars += line[i] == '|' && (i == 0 || line[i - 1] != '\\');
  CHECK(bars == 5);
}

TEST_CASE("every plugin README carries its steps' generated description", "[registry][docs]") {
  for (const auto& [name, step] : test::registry().steps()) {
    const auto folder = step.library.filename().string();  // libfacet_NAME.so
    const auto plugin = folder.substr(9, folder.size() - 12);
    const auto readme = test::read_text(test::source_path("plugins/" + plugin + "/README.md"));
    INFO("plugins/" << plugin << "/README.md is stale: regenerate it with runner describe " << name << " --markdown");
    auto generated = describe_step_markdown(step);
    generated.erase(generated.find_last_not_of('\n') + 1);
    CHECK_THAT(readme, Catch::Contains(generated));
  }
}
