#include <hdf5.h>

#include <sys/resource.h>

#include <fstream>

#include <torch/torch.h>
#include <catch2/catch.hpp>

#include "facet/artifact_file.hpp"
#include "facet/errors.hpp"
#include "test_support.hpp"

using namespace facet;
using facet::test::temp_dir;

namespace {
Artifact sample_artifact() {
  Artifact a;
  a.set("floats", torch::arange(12, torch::kFloat32).reshape({4, 3}) / 7);
  a.set("doubles", torch::tensor({1.5, -2.25}, torch::kFloat64));
  a.set("ints", torch::tensor({std::int64_t{-3}, std::int64_t{0}, std::int64_t{1} << 40}, torch::kInt64));
  a.set("bytes", torch::arange(24, torch::kUInt8).reshape({2, 3, 4}));
  a.set("flags", torch::tensor({true, false, true}));
  a.set("scalar", torch::tensor(3.0f));
  a.set("empty", torch::zeros({0, 5}, torch::kFloat32));
  a.set_attr("count", std::int64_t{42});
  a.set_attr("rate", 0.125);
  a.set_attr("source", std::string("unit test"));
  a.set_attr("names", std::vector<std::string>{"Gray Hair", "5 o' Clock Shadow", ""});
  a.set_attr("none", std::vector<std::string>{});
  return a;
}

long peak_rss_kb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}
}  // namespace

TEST_CASE("artifact files round-trip every tensor type and attribute", "[artifact]") {
  const auto file = temp_dir("roundtrip") / "a.h5";
  const Artifact original = sample_artifact();
  write_artifact_file(file, {{"things", original}}, {{"origin", std::string("test")}});

  FileAttrs file_attrs;
  const Artifacts read = read_artifact_file(file, &file_attrs);
  REQUIRE(read.count("things") == 1);
  const Artifact& a = read.at("things");
  CHECK(std::get<std::string>(file_attrs.at("origin")) == "test");
  for (const auto& name : original.tensor_names()) {
    INFO(name);
    CHECK(a.stored(name) != nullptr);
    CHECK(a.dtype(name) == original.dtype(name));
    CHECK(a.shape(name) == original.shape(name));
    CHECK(torch::equal(a.get(name), original.get(name)));
  }
  CHECK(a.attr_int("count") == 42);
  CHECK(a.attr_float("rate") == 0.125);
  CHECK(a.attr_string("source") == "unit test");
  CHECK(a.attr_strings("names") == std::vector<std::string>{"Gray Hair", "5 o' Clock Shadow", ""});
  CHECK(a.attr_strings("none").empty());
  CHECK(torch::equal(a.rows("floats", 1, 3), original.get("floats").slice(0, 1, 3)));
}

TEST_CASE("h5py reads an artifact file", "[artifact][python]") {
  const auto dir = temp_dir("h5py");
  write_artifact_file(dir / "a.h5", {{"things", sample_artifact()}});
  const std::string script =
      "import h5py, numpy as np\n"
      "f = h5py.File('a.h5', 'r')\n"
      "g = f['things']\n"
      "print(g['floats'][2, 1] * 7, g['ints'][2], g['bytes'].shape, g.attrs['count'])\n"
      "names = [n.decode() if isinstance(n, bytes) else n for n in g.attrs['names']]\n"
      "print('|'.join(names))\n";
  test::write_text(dir / "read.py", script);
  const auto result = test::run_command("/usr/bin/python3 read.py", dir);
  INFO(result.output);
  REQUIRE(result.status == 0);
  CHECK(result.output == "7.0 1099511627776 (2, 3, 4) 42\nGray Hair|5 o' Clock Shadow|\n");
}

TEST_CASE("row writers stream a tensor in slices and check what they get", "[artifact]") {
  const auto file = temp_dir("rows") / "r.h5";
  ArtifactFileWriter writer(file);
  auto rows = writer.create_rows("data", "x", {5, 2}, torch::kInt64);
  rows->append(torch::tensor({{1, 2}, {3, 4}}, torch::kInt64));
  CHECK_THROWS_WITH(rows->append(torch::zeros({1, 3}, torch::kInt64)), Catch::Contains("do not fit"));
  CHECK_THROWS_WITH(rows->append(torch::zeros({1, 2}, torch::kFloat32)),
                    Catch::Contains("appended rows are Float, the tensor is Long"));
  CHECK_THROWS_WITH(rows->finish(), Catch::Contains("after 2 of 5 rows"));
  rows->append(torch::tensor({{5, 6}, {7, 8}, {9, 10}}, torch::kInt64));
  Artifact data;
  data.set("x", rows->finish());
  writer.write("data", data);
  CHECK_FALSE(std::filesystem::exists(file));  // nothing at the final path before commit
  writer.commit();
  CHECK(
      torch::equal(read_artifact_file(file).at("data").get("x"), torch::arange(1, 11, torch::kInt64).reshape({5, 2})));
}

TEST_CASE("an uncommitted writer leaves nothing behind", "[artifact]") {
  const auto dir = temp_dir("abort");
  {
    ArtifactFileWriter writer(dir / "x.h5");
    writer.write("a", sample_artifact());
  }
  CHECK(std::filesystem::is_empty(dir));
}

TEST_CASE("damaged artifact files are reported, naming the file", "[artifact]") {
  const auto dir = temp_dir("damaged");
  Artifact big;
  big.set("x", torch::rand({4096, 64}));
  write_artifact_file(dir / "a.h5", {{"a", big}});
  const auto size = std::filesystem::file_size(dir / "a.h5");

  SECTION("truncated") {
    std::filesystem::resize_file(dir / "a.h5", size / 2);
    CHECK_THROWS_WITH(read_artifact_file(dir / "a.h5"), Catch::Contains("a.h5"));
  }
  SECTION("a flipped byte in the data fails its checksum") {
    {
      std::fstream f(dir / "a.h5", std::ios::in | std::ios::out | std::ios::binary);
      f.seekp(static_cast<std::streamoff>(size / 2));
      char c = 0;
      f.read(&c, 1);
      f.seekp(static_cast<std::streamoff>(size / 2));
      c = static_cast<char>(c ^ 0x5a);
      f.write(&c, 1);
    }
    const auto read = read_artifact_file(dir / "a.h5");
    CHECK_THROWS_WITH(read.at("a").get("x"), Catch::Contains("damaged data"));
  }
  SECTION("not HDF5 at all") {
    test::write_text(dir / "b.h5", "hello");
    CHECK_THROWS_WITH(read_artifact_file(dir / "b.h5"), Catch::Contains("not an HDF5 file"));
  }
  SECTION("HDF5 without metadata checksums (the old format) is refused before HDF5 parses it") {
    // tests/fuzz/regressions/fuzz_artifact: damaged metadata of such files crashed HDF5 itself.
    init_hdf5();
    const hid_t old = H5Fcreate((dir / "old.h5").c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    REQUIRE(old >= 0);
    H5Fclose(old);
    CHECK_THROWS_WITH(read_artifact_file(dir / "old.h5"),
                      Catch::Contains("old.h5: HDF5 superblock version 0 keeps no metadata checksums"));
    CHECK(test::read_text(dir / "a.h5")[8] >= 2);  // what facet writes has them
  }
}

TEST_CASE("copying a stored tensor streams it with bounded memory", "[artifact][memory]") {
  const auto dir = temp_dir("stream");
  constexpr std::int64_t kRows = 384, kRowFloats = 256 * 1024;  // 384 MiB of float32
  {
    ArtifactFileWriter writer(dir / "big.h5");
    auto rows = writer.create_rows("a", "x", {kRows, kRowFloats}, torch::kFloat32);
    for (std::int64_t r = 0; r < kRows; r += 8) rows->append(torch::full({8, kRowFloats}, static_cast<float>(r)));
    Artifact a;
    a.set("x", rows->finish());
    writer.write("a", a);
    writer.commit();
  }
  const long before = peak_rss_kb();
  const Artifacts stored = read_artifact_file(dir / "big.h5");
  write_artifact_file(dir / "copy.h5", {{"b", stored.at("a")}});
  const long grown_mib = (peak_rss_kb() - before) / 1024;
  INFO("peak RSS grew by " << grown_mib << " MiB while copying 384 MiB");
  CHECK(grown_mib < 160);
  const auto copy = read_artifact_file(dir / "copy.h5").at("b");
  CHECK(copy.rows("x", 200, 201).max().item<float>() == 200.0f);
}
