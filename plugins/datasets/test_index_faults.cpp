// Hostile or odd index files: byte-order marks, person names that would
// leave the download folder, URLs that are not the web, nothing usable.
#include <catch2/catch.hpp>

#include "downloader.hpp"
#include "facet/pubfig.hpp"
#include "image_files.hpp"
#include "index_files.hpp"
#include "test_support.hpp"

using namespace facet;
namespace datasets = facet::datasets;
namespace fs = std::filesystem;

namespace {
const std::string kBom = "\xEF\xBB\xBF";
const std::string kUrlsHeader = "#\tperson\timagenum\turl\trect\tmd5sum\n";

std::string attributes_header() {
  std::string header = "#\tperson\timagenum";
  for (const auto& n : pubfig::kAttributeNames) header += "\t" + std::string(n);
  return header + "\n";
}
}  // namespace

TEST_CASE("index files: a UTF-8 byte-order mark at the start is accepted", "[pubfig][faults]") {
  const auto dir = test::temp_dir("index-bom");
  // The mark before a data row: the row is kept, not dropped.
  test::write_text(dir / "urls.txt", kBom + "Aaron Eckhart\t1\thttp://x/1.jpg\t1,2,3,4\tAB\n");
  const auto urls = datasets::read_urls(dir / "urls.txt");
  REQUIRE(urls.size() == 1);
  CHECK(urls[0].person == "Aaron Eckhart");
  // The mark before the header: the header still names the columns.
  test::write_text(dir / "attrs.txt", kBom + "#\tperson\timagenum\tMale\nAaron Eckhart\t1\t1.5\n");
  CHECK(datasets::read_attribute_scores(dir / "attrs.txt").names == std::vector<std::string>{"Male"});
  test::write_text(dir / "celeba.txt", kBom + "1\nSmiling\n000001.jpg 1\n");
  CHECK(datasets::read_celeba_attributes(dir / "celeba.txt").files.size() == 1);
  test::write_text(dir / "part.txt", kBom + "000001.jpg 0\r\n");
  CHECK(datasets::read_celeba_partition(dir / "part.txt").count("000001.jpg") == 1);
}

TEST_CASE("index files: a person name that would leave the download folder is refused", "[pubfig][faults]") {
  const auto dir = test::temp_dir("index-person");
  for (const std::string person : {"..", "_changed", ".hidden", ""}) {
    INFO(person);
    test::write_text(dir / "urls.txt", kUrlsHeader + "Aaron Eckhart\t1\thttp://x/1.jpg\t1,2,3,4\tab\n" + person +
                                           "\t2\thttp://x/2.jpg\t1,2,3,4\tab\n");
    CHECK_THROWS_WITH(
        datasets::read_urls(dir / "urls.txt"),
        Catch::StartsWith((dir / "urls.txt").string() + ":3: person '" + person + "' cannot name an image folder"));
    CHECK_THROWS(datasets::image_path(dir, person, 1, "jpg"));
  }
  CHECK(datasets::image_path(dir, "Person/With Slash", 3, "jpg") == dir / "Person_With_Slash" / "3.jpg");
}

TEST_CASE("pubfig_download: only http and https are fetched", "[pubfig][faults]") {
  const auto dir = test::temp_dir("download-schemes");
  test::write_text(dir / "secret.txt", "local file");
  std::vector<datasets::DownloadJob> jobs;
  for (const auto& url : {"file://" + (dir / "secret.txt").string(), std::string("ftp://127.0.0.1/x.jpg"),
                          std::string("FILE:///etc/hostname")}) {
    jobs.push_back({"Aaron Eckhart", static_cast<std::int64_t>(jobs.size() + 1), url, "", false});
  }
  datasets::DownloadOptions options;
  options.root = dir / "images";
  const auto outcomes = datasets::download_all(
      jobs, options, [] {}, [] { return false; });
  for (const auto& o : outcomes) {
    CHECK(o.status == datasets::DownloadStatus::Missing);
    CHECK(o.detail == "not an http or https URL; not fetched");
  }
  CHECK_FALSE(fs::exists(dir / "images"));
}

TEST_CASE("pubfig: an empty index or one with no usable image fails at once, naming the file", "[pubfig][faults]") {
  const auto dir = test::temp_dir("pubfig-empty");
  test::write_text(dir / "dev_urls.txt", kUrlsHeader);
  test::write_text(dir / "eval_urls.txt", kUrlsHeader);
  test::write_text(dir / "pubfig_attributes.txt", attributes_header());
  const auto with = fmt::format("{{root: '{}', images: '{}', size: 32}}", dir.string(), (dir / "images").string());
  CHECK_THROWS_WITH(test::run_step("pubfig", {}, with), Catch::Contains("pubfig_attributes.txt") &&
                                                            Catch::Contains("dev_urls.txt and eval_urls.txt") &&
                                                            Catch::EndsWith("no index rows; is it the right file?"));

  // Rows, but no image downloaded, and one row without scores.
  std::string urls = kUrlsHeader, scores = attributes_header();
  for (int i = 1; i <= 3; ++i) {
    urls += fmt::format("Aaron Eckhart\t{}\thttp://x/{}.jpg\t1,2,30,40\tab\n", i, i);
    if (i == 3) continue;
    scores += fmt::format("Aaron Eckhart\t{}", i);
    for (int a = 0; a < pubfig::kNumAttributes; ++a) scores += "\t0.5";
    scores += "\n";
  }
  test::write_text(dir / "dev_urls.txt", urls);
  test::write_text(dir / "pubfig_attributes.txt", scores);
  CHECK_THROWS_WITH(test::run_step("pubfig", {}, with),
                    Catch::Contains("none of its 3 index rows gave a usable image (image not downloaded: 2; no "
                                    "attribute scores: 1)"));
}
