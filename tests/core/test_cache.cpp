#include <catch2/catch.hpp>

#include "cache.hpp"
#include "executor.hpp"
#include "test_support.hpp"

using namespace facet;

TEST_CASE("cache keys change with what the outputs depend on, and only then", "[cache]") {
  StepConfig s;
  s.id = "faces";
  s.step = test::registry().find("synthfaces");
  s.params = parse_step_params(*s.step, "{count: 10}");
  const auto base = cache_key(s, 1, {});
  CHECK(base.size() == 64);
  CHECK(cache_key(s, 1, {}) == base);
  CHECK(cache_key(s, 2, {}) != base);
  CHECK(cache_key(s, 1, {{"x", "abc/out"}}) != base);
  StepConfig other = s;
  other.params = parse_step_params(*s.step, "{count: 11}");
  CHECK(cache_key(other, 1, {}) != base);
  other.params = parse_step_params(*s.step, "{count: 10, size: 64}");  // the default, spelled out
  CHECK(cache_key(other, 1, {}) == base);
}

TEST_CASE("cache keys follow the files a path parameter names", "[cache]") {
  const auto dir = test::temp_dir("path-key");
  StepConfig s;
  s.id = "download";
  s.step = test::registry().find("pubfig_download");
  s.params = parse_step_params(*s.step, "{root: '" + dir.string() + "'}");
  const auto missing = cache_key(s, 1, {});
  test::write_text(dir / "dev_urls.txt", "a");
  const auto one = cache_key(s, 1, {});
  CHECK(one != missing);
  CHECK(cache_key(s, 1, {}) == one);
  test::write_text(dir / "dev_urls.txt", "ab");  // changed size
  const auto two = cache_key(s, 1, {});
  CHECK(two != one);
  test::write_text(dir / "sub" / "eval_urls.txt", "x");  // a new file, deeper
  CHECK(cache_key(s, 1, {}) != two);
}

TEST_CASE("step seeds derive from the pipeline seed and the step id", "[cache]") {
  CHECK(derive_seed(7, "faces") == derive_seed(7, "faces"));
  CHECK(derive_seed(7, "faces") != derive_seed(8, "faces"));
  CHECK(derive_seed(7, "faces") != derive_seed(7, "labels"));
  CHECK(derive_seed(7, "faces") < (1ULL << 63));
}
