#include <catch2/catch.hpp>

#include "facet/errors.hpp"
#include "facet/params.hpp"

using namespace facet;

TEST_CASE("parameter values have one canonical text", "[params]") {
  CHECK(format_value(true) == "true");
  CHECK(format_value(std::int64_t{-3}) == "-3");
  CHECK(format_value(2.0) == "2.0");
  CHECK(format_value(0.125) == "0.125");
  CHECK(format_value(std::string("conv5_1")) == "conv5_1");
  CHECK(format_value(std::string("a: b")) == "'a: b'");
  CHECK(format_value(std::vector<std::int64_t>{512, 256}) == "[512, 256]");
  CHECK(format_value(std::vector<std::string>{"Gray Hair", "it's"}) == "[Gray Hair, 'it''s']");
}

TEST_CASE("parameter specs describe their type and range", "[params]") {
  CHECK(describe_range(ParamSpec::integer("n", 1, "").range(1, 10)) == "1 <= x <= 10");
  CHECK(describe_range(ParamSpec::real("m", 0, "").range(0.0, std::nullopt)) == "x >= 0");
  CHECK(describe_type(ParamSpec::choice("mode", "a", {"a", "b"}, "")) == "one of a, b");
}

TEST_CASE("params are read with their declared type", "[params]") {
  Params p({{"count", std::int64_t{5}}, {"mode", std::string("binary")}});
  CHECK(p.get_int("count") == 5);
  CHECK(p.get_string("mode") == "binary");
  CHECK_THROWS_WITH(p.get_float("count"), Catch::Contains("wrong type"));
  CHECK_THROWS_WITH(p.get_int("missing"), Catch::Contains("undeclared parameter 'missing'"));
}
