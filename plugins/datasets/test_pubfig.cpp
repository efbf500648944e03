#include <set>

#include <torch/torch.h>
#include <catch2/catch.hpp>
#include <opencv2/imgcodecs.hpp>

#include "crop_store.hpp"
#include "downloader.hpp"
#include "facet/pubfig.hpp"
#include "image_files.hpp"
#include "index_files.hpp"
#include "keras_fixture.hpp"
#include "test_support.hpp"

using namespace facet;
namespace datasets = facet::datasets;
namespace fs = std::filesystem;

namespace {

std::string saved_file(const Artifacts& outputs, const std::string& name) {
  const auto bytes = outputs.at("_files").get(name).contiguous();
  return {static_cast<const char*>(bytes.data_ptr()), static_cast<size_t>(bytes.numel())};
}

/// A tiny PubFig: rendered faces pasted into larger JPEGs, index files in
/// PubFig's exact format, served by a local HTTP server with every kind of
/// failure the downloader must recognise.
struct PubFigFixture {
  fs::path dir, index, served, images;
  std::unique_ptr<test::BackgroundProcess> server;
  std::string base;
  torch::Tensor faces;   ///< [N, 3, 64, 64] the rendered faces, in index order
  torch::Tensor scores;  ///< [N, 73]
  std::vector<std::string> person;
  std::vector<std::int64_t> imagenum;
  std::vector<std::string> route;  ///< how each image is served: files, missing, slow, drop, ...
  static constexpr int kFace = 64, kLeft = 20, kTop = 12;

  explicit PubFigFixture(const std::string& name, int count = 24) : dir(test::temp_dir(name)) {
    index = dir / "index";
    served = dir / "served";
    images = dir / "images";
    fs::create_directories(index);
    fs::create_directories(served);
    const auto out = test::run_step("synthfaces", {}, fmt::format("{{count: {}, size: {}, persons: 6}}", count, kFace));
    faces = out.at("images").get("images").contiguous();
    scores = out.at("attributes").get("scores").contiguous();
    const auto who = out.at("attributes").get("person").contiguous();
    server = std::make_unique<test::BackgroundProcess>(
        fmt::format("exec /usr/bin/python3 '{}' '{}' '{}'", test::source_path("tests/fixtures/http_server.py").string(),
                    served.string(), (dir / "requests.log").string()));
    base = "http://127.0.0.1:" + server->first_line();

    // Special cases on the first rows; the rest are served plainly.
    const std::vector<std::string> special = {"missing", "slow",     "drop",    "changed",
                                              "html",    "redirect", "badrect", "flaky"};
    std::string dev =
        "# PubFig Dataset v1.2 - dev_urls.txt - http://www.cs.columbia.edu/CAVE/databases/pubfig/\n"
        "#\tperson\timagenum\turl\trect\tmd5sum\n";
    std::string eval = dev;
    std::string attributes = "# PubFig Dataset v1.2 - pubfig_attributes.txt\n#\tperson\timagenum";
    for (const auto& n : pubfig::kAttributeNames) attributes += "\t" + std::string(n);
    attributes += "\n";
    for (int i = 0; i < count; ++i) {
      person.push_back(fmt::format("Person {}", static_cast<char>('A' + who[i].item<std::int64_t>())));
      imagenum.push_back(2 * i + 1);  // gaps, as in PubFig
      route.push_back(i < static_cast<int>(special.size()) ? special[static_cast<size_t>(i)] : "files");
      // The face sits in a larger photo; the box is exactly the face.
      cv::Mat photo(100, 110, CV_8UC3, cv::Scalar(40, 90, 160));
      auto hwc = faces[i].permute({1, 2, 0}).flip(2).contiguous();  // RGB -> BGR
      cv::Mat face(kFace, kFace, CV_8UC3, hwc.data_ptr());
      face.copyTo(photo(cv::Rect(kLeft, kTop, kFace, kFace)));
      std::vector<uchar> jpeg;
      cv::imencode(".jpg", photo, jpeg, {cv::IMWRITE_JPEG_QUALITY, 95});
      const std::string file = fmt::format("{}.jpg", i);
      const std::string bytes(jpeg.begin(), jpeg.end());
      test::write_text(served / file, bytes);
      std::string md5 = datasets::md5_hex(bytes);
      if (route.back() == "changed") md5 = std::string(32, '0');
      const std::string r = route.back();
      const std::string url = base + "/" + (r == "changed" || r == "badrect" ? "files" : r) + "/" + file;
      const std::string rect =
          r == "badrect" ? "50,50,40,60" : fmt::format("{},{},{},{}", kLeft, kTop, kLeft + kFace, kTop + kFace);
      // Persons A and B are dev, the rest eval.
      (person.back() <= "Person B" ? dev : eval) +=
          fmt::format("{}\t{}\t{}\t{}\t{}\n", person.back(), imagenum.back(), url, rect, md5);
      if (i == count - 1) continue;  // the last image has no attribute scores
      attributes += fmt::format("{}\t{}", person.back(), imagenum.back());
      for (int a = 0; a < pubfig::kNumAttributes; ++a)
        attributes += fmt::format("\t{:.3f}", scores[i][a].item<float>());
      attributes += "\n";
    }
    test::write_text(index / "dev_urls.txt", dev);
    test::write_text(index / "eval_urls.txt", eval);
    test::write_text(index / "pubfig_attributes.txt", attributes);
  }

  std::string download_params() const {
    return fmt::format("{{root: '{}', images: '{}', timeout: 1.5, retries: 1, backoff: 0.1}}", index.string(),
                       images.string());
  }

  std::vector<std::string> requests() const {
    std::vector<std::string> lines;
    std::istringstream in(test::read_text(dir / "requests.log"));
    for (std::string l; std::getline(in, l);) lines.push_back(l);
    return lines;
  }
};

}  // namespace

TEST_CASE("pubfig: the real dev_urls.txt parses to 16,336 rows of 60 people", "[pubfig]") {
  const auto rows = datasets::read_urls(test::pubfig_index_dir() / "dev_urls.txt");
  REQUIRE(rows.size() == 16336);
  std::set<std::string> people;
  std::int64_t valid = 0, invalid = 0, outside = 0;
  for (const auto& r : rows) {
    people.insert(r.person);
    (r.rect_parsed && r.rect.valid() ? valid : invalid) += 1;
    if (r.rect.x0 < 0 || r.rect.y0 < 0) ++outside;  // partly outside the image: clipped and padded when cropped
  }
  CHECK(people.size() == 60);
  CHECK(valid + invalid == 16336);
  CHECK(invalid == 0);
  CHECK(outside > 0);
  CHECK(rows[0].person == "Abhishek Bachan");
  CHECK(rows[0].imagenum == 1);
  CHECK(rows[0].rect.x0 == 183);
  CHECK(rows[0].rect.y1 == 174);
  CHECK(rows[0].md5 == "f533da9fbd1c770428c8961f3fa48950");
  CHECK(datasets::read_people(test::pubfig_index_dir() / "dev_people.txt").size() == 60);
  CHECK(datasets::read_people(test::pubfig_index_dir() / "eval_people.txt").size() == 140);
  const auto labels = datasets::read_image_labels(test::pubfig_index_dir() / "pubfig_labels.txt");
  CHECK(labels.size() == 42461);
  CHECK(labels.at({"Aaron Eckhart", 2}).expression == "neutral");
}

TEST_CASE("pubfig: attribute files, names such as 5 o' Clock Shadow, and located errors", "[pubfig]") {
  const auto dir = test::temp_dir("pubfig-parse");
  test::write_text(dir / "attrs.txt",
                   "# PubFig Dataset v1.2 - pubfig_attributes.txt\n#\tperson\timagenum\tMale\t5 o' Clock Shadow\n"
                   "Aaron Eckhart\t1\t1.56\t-0.25\nAaron Eckhart\t4\t-2\t0.5e1\n");
  const auto t = datasets::read_attribute_scores(dir / "attrs.txt");
  CHECK(t.names == std::vector<std::string>{"Male", "5 o' Clock Shadow"});
  CHECK(t.keys[1] == datasets::ImageKey{"Aaron Eckhart", 4});
  CHECK(t.scores == std::vector<float>{1.56f, -0.25f, -2.0f, 5.0f});
  test::write_text(dir / "bad.txt", "#\tperson\timagenum\tMale\nAaron Eckhart\t1\n");
  CHECK_THROWS_WITH(datasets::read_attribute_scores(dir / "bad.txt"),
                    Catch::Contains("bad.txt:2: expected 3 tab-separated fields"));
  test::write_text(dir / "urls.txt", "#\tperson\timagenum\turl\trect\tmd5sum\nA\tx\tu\t1,2,3,4\tab\n");
  CHECK_THROWS_WITH(datasets::read_urls(dir / "urls.txt"),
                    Catch::Contains("urls.txt:2: imagenum 'x' is not an integer"));
  CHECK_THROWS_WITH(datasets::read_urls(dir / "none.txt"), Catch::Contains("none.txt: cannot open"));
}

TEST_CASE("celeba and lfw: attribute, partition and box files", "[pubfig]") {
  const auto dir = test::temp_dir("celeba-parse");
  test::write_text(dir / "list_attr_celeba.txt", "2\n5_o_Clock_Shadow Smiling\n000001.jpg -1  1\n000002.jpg  1 -1\n");
  const auto t = datasets::read_celeba_attributes(dir / "list_attr_celeba.txt");
  CHECK(t.names == std::vector<std::string>{"5_o_Clock_Shadow", "Smiling"});
  CHECK(t.files == std::vector<std::string>{"000001.jpg", "000002.jpg"});
  CHECK(t.scores == std::vector<float>{-1, 1, 1, -1});
  test::write_text(dir / "short.txt", "3\nA B\n000001.jpg -1 1\n");
  CHECK_THROWS_WITH(datasets::read_celeba_attributes(dir / "short.txt"),
                    Catch::Contains("declares 3 images, the file holds 1"));
  test::write_text(dir / "part.txt", "000001.jpg 0\n000002.jpg 2\n");
  CHECK(datasets::read_celeba_partition(dir / "part.txt").at("000002.jpg") == 2);
  test::write_text(dir / "bbox.txt", "1\nimage_id x_1 y_1 width height\n000001.jpg    95  71 226 313\n");
  const auto box = datasets::read_celeba_boxes(dir / "bbox.txt").at("000001.jpg");
  CHECK(box.x1 == 95 + 226);
  CHECK(box.y1 == 71 + 313);
  // LFW's lfw_attributes.txt has PubFig's format.
  test::write_text(dir / "lfw_attributes.txt",
                   "# LFW attributes file version 1.1\n#\tperson\timagenum\tMale\tAsian\n"
                   "Aaron Eckhart\t1\t1.568346\t-1.888680\n");
  CHECK(datasets::read_attribute_scores(dir / "lfw_attributes.txt").scores.size() == 2);
}

TEST_CASE("images: format sniffing, truncation and crops outside the image", "[pubfig]") {
  cv::Mat img(40, 50, CV_8UC3, cv::Scalar(0, 0, 255));  // red in BGR
  std::vector<uchar> jpeg;
  cv::imencode(".jpg", img, jpeg);
  const std::string bytes(jpeg.begin(), jpeg.end());
  CHECK(datasets::sniff_image_format(bytes) == "jpg");
  CHECK(datasets::sniff_image_format("<html><body>404</body></html>").empty());
  cv::Mat decoded;
  CHECK(datasets::decode_image(bytes, decoded).empty());
  CHECK(datasets::decode_image(bytes.substr(0, bytes.size() / 2), decoded) == "truncated");
  CHECK(datasets::decode_image("<!DOCTYPE html>", decoded) == "not an image");
  // A box reaching past the left edge: the outside part is black padding.
  const auto crop = datasets::crop_face(img, {-20, 0, 20, 40}, 40);
  CHECK(crop.at<cv::Vec3b>(20, 5) == cv::Vec3b(0, 0, 0));
  CHECK(crop.at<cv::Vec3b>(20, 35)[0] > 240);  // RGB: red first
  CHECK(datasets::crop_region({10, 10, 30, 50}, 0.25).width() == 60);
  CHECK(datasets::md5_hex("") == "d41d8cd98f00b204e9800998ecf8427e");
}

TEST_CASE("pubfig_download: every case against a local server, and a second run fetches nothing", "[pubfig]") {
  PubFigFixture fx("pubfig-download", 12);
  const auto manifest = test::run_step("pubfig_download", {}, fx.download_params()).at("manifest");
  const auto status = manifest.get("status");
  const auto names = manifest.attr_strings("status_names");
  // The manifest is in index order: dev rows first, then eval.
  std::map<std::string, std::string> got;  // "person imagenum" -> status
  const auto people = manifest.attr_strings("person_names");
  for (std::int64_t i = 0; i < status.size(0); ++i) {
    got[fmt::format("{} {}", people[static_cast<size_t>(manifest.get("person")[i].item<std::int64_t>())],
                    manifest.get("image_id")[i].item<std::int64_t>())] =
        names[static_cast<size_t>(status[i].item<std::int64_t>())];
  }
  const std::map<std::string, std::string> expected = {
      {"files", "ok"},     {"missing", "missing"},  {"slow", "timeout"},
      {"drop", "dropped"}, {"changed", "changed"},  {"html", "not an image"},
      {"redirect", "ok"},  {"badrect", "bad rect"}, {"flaky", "ok"}};
  for (size_t i = 0; i < fx.route.size(); ++i) {
    INFO("route " << fx.route[i]);
    CHECK(got.at(fmt::format("{} {}", fx.person[i], fx.imagenum[i])) == expected.at(fx.route[i]));
  }
  // Verified images are on disk, byte for byte; a changed one is kept aside.
  CHECK(test::read_text(datasets::image_path(fx.images, fx.person[8], fx.imagenum[8], "jpg")) ==
        test::read_text(fx.served / "8.jpg"));
  CHECK(fs::exists(datasets::image_path(fx.images / "_changed", fx.person[3], fx.imagenum[3], "jpg")));
  CHECK_FALSE(fs::exists(datasets::image_path(fx.images, fx.person[3], fx.imagenum[3], "jpg")));
  CHECK(fs::exists(fx.images / "manifest.tsv"));
  const size_t first_run = fx.requests().size();
  CHECK(saved_file(test::run_step("pubfig_download", {}, fx.download_params()), "manifest.tsv").find("\tpresent\t") !=
        std::string::npos);
  // The second run asks again only for what failed: nothing fetched intact is fetched twice.
  const auto requests = fx.requests();
  const std::set<std::string> again(requests.begin() + static_cast<std::ptrdiff_t>(first_run), requests.end());
  for (size_t i = 0; i < fx.route.size(); ++i) {
    if (expected.at(fx.route[i]) != "ok") continue;
    CHECK(again.count(fmt::format("/{}/{}.jpg", fx.route[i], i)) == 0);
  }
  CHECK(again.count("/missing/0.jpg") == 1);
}

TEST_CASE("pubfig: crops of intact downloads, labels joined, drops counted, PubFig's split", "[pubfig]") {
  PubFigFixture fx("pubfig-load", 16);
  const auto manifest = test::run_step("pubfig_download", {}, fx.download_params());
  const std::string with = fmt::format("{{root: '{}', images: '{}', size: 64, margin: 0.0, val_people: 1}}",
                                       fx.index.string(), fx.images.string());
  const auto out = test::run_step("pubfig", manifest, with);
  const auto& images = out.at("images");
  const auto& attributes = out.at("attributes");
  // Fetched intact: files rows (8..15, the last without scores), redirect, flaky.
  const std::int64_t n = images.num_rows("images");
  CHECK(n == 7 + 2);
  CHECK(images.shape("images") == std::vector<std::int64_t>{n, 3, 64, 64});
  const auto report = saved_file(out, "load_report.md");
  CHECK(report.find("| no attribute scores | 1 |") != std::string::npos);
  CHECK(report.find("| invalid face box | 1 |") != std::string::npos);
  CHECK(report.find("| not fetched intact (see the download manifest) | 5 |") != std::string::npos);
  // Each crop is its face again (up to JPEG), with the scores of that image.
  const auto image_id = attributes.get("image_id");
  const auto names = attributes.attr_strings("person_names");
  for (std::int64_t i = 0; i < n; ++i) {
    const auto k = (image_id[i].item<std::int64_t>() - 1) / 2;
    const auto diff = (images.get("images")[i].to(torch::kFloat32) - fx.faces[k].to(torch::kFloat32)).abs().mean();
    CHECK(diff.item<float>() < 8.0f);  // a different face is off by tens
    CHECK(torch::allclose(attributes.get("scores")[i], fx.scores[k], 1e-3, 1e-3));
    CHECK(names[static_cast<size_t>(attributes.get("person")[i].item<std::int64_t>())] ==
          fx.person[static_cast<size_t>(k)]);
    const bool dev = fx.person[static_cast<size_t>(k)] <= "Person B";
    const auto subset = attributes.get("subset")[i].item<std::int64_t>();
    CHECK((dev ? subset <= 1 : subset == 2));
  }
  // split mode given follows it.
  const auto split = test::run_step("split", {{"people", attributes}}, "{mode: given}").at("split");
  CHECK(torch::equal(split.get("subset"), attributes.get("subset")));
}

TEST_CASE("pubfig: without a manifest, images on disk are used and corrupt ones skipped and counted", "[pubfig]") {
  PubFigFixture fx("pubfig-corrupt", 10);
  test::run_step("pubfig_download", {}, fx.download_params());
  // Damage two downloaded images after the fact.
  const auto truncated = datasets::image_path(fx.images, fx.person[8], fx.imagenum[8], "jpg");
  const auto text = test::read_text(truncated);
  test::write_text(truncated, text.substr(0, text.size() / 3));
  test::write_text(datasets::image_path(fx.images, fx.person[5], fx.imagenum[5], "jpg"), "<html>oops</html>");
  const auto out = test::run_step(
      "pubfig", {}, fmt::format("{{root: '{}', images: '{}', size: 32}}", fx.index.string(), fx.images.string()));
  const auto report = saved_file(out, "load_report.md");
  CHECK(report.find("| truncated | 1 |") != std::string::npos);
  CHECK(report.find("| not an image | 1 |") != std::string::npos);
  CHECK(report.find("| image not downloaded |") != std::string::npos);
  CHECK(out.at("images").num_rows("images") == out.at("attributes").num_rows("scores"));
}

TEST_CASE("pipelines/pubfig.yaml: every step through the real runner on a tiny PubFig", "[pubfig][e2e]") {
  PubFigFixture fx("pubfig-e2e", 40);
  const auto weights = fx.dir / "vggface.h5";
  vggface::test::write_keras(weights, vggface::test::random_vggface(64, 8, 512, 10), {});
  // The pipeline as shipped, scaled to seconds on a CPU: 64 px, VGG-16 at 1/8 width.
  std::string args = test::source_path("pipelines/pubfig.yaml").string() + " --set device=cpu";
  for (const auto& [path, value] :
       std::vector<std::pair<std::string, std::string>>{{"steps.download.with.root", fx.index.string()},
                                                        {"steps.download.with.images", fx.images.string()},
                                                        {"steps.download.with.timeout", "1.5"},
                                                        {"steps.download.with.retries", "1"},
                                                        {"steps.download.with.backoff", "0.1"},
                                                        {"steps.faces.with.root", fx.index.string()},
                                                        {"steps.faces.with.images", fx.images.string()},
                                                        {"steps.faces.with.size", "64"},
                                                        {"steps.faces.with.val_people", "0"},
                                                        {"steps.pretrained.with.file", weights.string()},
                                                        {"steps.backbone.with.input_size", "64"},
                                                        {"steps.backbone.with.width", "0.125"},
                                                        {"steps.backbone.with.epochs", "2"},
                                                        {"steps.maps.with.perplexity", "3"}}) {
    args += fmt::format(" --set '{}={}'", path, value);
  }
  const auto run = test::run_runner(args, fx.dir);
  INFO(run.output);
  REQUIRE(run.status == 0);
  const auto metrics = test::read_text(fs::directory_iterator(fx.dir / "runs" / "pubfig")->path() / "metrics.json");
  for (const char* key : {"\"images_ok\": 34", "\"images_timeout\": 1", "\"images_changed\": 1", "\"dropped\": 7",
                          "\"mean_accuracy\"", "\"gray_hair_separation_tsne\""}) {
    INFO(key);
    CHECK(metrics.find(key) != std::string::npos);
  }
  // A second run is served from the cache, downloads included.
  const auto again = test::run_runner(args, fx.dir);
  CHECK(again.status == 0);
  CHECK(again.output.find("running") == std::string::npos);
}

TEST_CASE("celeba and lfw: the same dataset contract from their own files", "[pubfig]") {
  const auto dir = test::temp_dir("celeba-lfw");
  // CelebA: aligned 178 x 218 images, the face square painted white.
  std::string attrs = "4\nSmiling Male\n", partition, identity;
  for (int i = 1; i <= 4; ++i) {
    const auto name = fmt::format("{:06d}.jpg", i);
    attrs += fmt::format("{} {} {}\n", name, i % 2 == 0 ? 1 : -1, 1);
    partition += fmt::format("{} {}\n", name, i == 4 ? 2 : 0);
    identity += fmt::format("{} {}\n", name, i <= 2 ? 7 : 9);
  }
  fs::create_directories(dir / "img_align_celeba");
  for (int i = 1; i <= 4; ++i) {
    if (i == 3) continue;  // never downloaded
    cv::Mat img(218, 178, CV_8UC3, cv::Scalar(0, 0, 0));
    img(cv::Rect(0, 20, 178, 178)).setTo(cv::Scalar(255, 255, 255));
    cv::imwrite((dir / "img_align_celeba" / fmt::format("{:06d}.jpg", i)).string(), img);
  }
  test::write_text(dir / "list_attr_celeba.txt", attrs);
  test::write_text(dir / "list_eval_partition.txt", partition);
  test::write_text(dir / "identity_CelebA.txt", identity);
  const auto celeba = test::run_step(
      "celeba", {},
      fmt::format("{{root: '{}', images: '{}', size: 32}}", dir.string(), (dir / "img_align_celeba").string()));
  const auto& a = celeba.at("attributes");
  CHECK(a.attr_strings("attribute_names") == std::vector<std::string>{"Smiling", "Male"});
  CHECK(torch::equal(a.get("image_id"), torch::tensor({1, 2, 4}, torch::kInt64)));
  CHECK(torch::equal(a.get("subset"), torch::tensor({0, 0, 2}, torch::kInt64)));
  CHECK(torch::equal(a.get("person"), torch::tensor({0, 0, 1}, torch::kInt64)));  // identities 7, 7, 9
  CHECK(a.get("scores")[1][0].item<float>() == 1.0f);
  CHECK(celeba.at("images").get("images").to(torch::kFloat32).mean().item<float>() > 250.0f);  // only the face square
  CHECK(saved_file(celeba, "load_report.md").find("| image not downloaded | 1 |") != std::string::npos);

  // LFW: Name/Name_0001.jpg, PubFig's attribute format.
  cv::Mat face(250, 250, CV_8UC3, cv::Scalar(10, 20, 30));
  fs::create_directories(dir / "lfw" / "Aaron_Eckhart");
  cv::imwrite((dir / "lfw" / "Aaron_Eckhart" / "Aaron_Eckhart_0001.jpg").string(), face);
  test::write_text(
      dir / "lfw_attributes.txt",
      "# LFW attributes file version 1.1\n#\tperson\timagenum\tMale\tSmiling\nAaron Eckhart\t1\t1.5\t-0.5\n");
  const auto lfw = test::run_step("lfw", {},
                                  fmt::format("{{attributes: '{}', images: '{}', size: 32}}",
                                              (dir / "lfw_attributes.txt").string(), (dir / "lfw").string()));
  const auto scores = lfw.at("attributes").get("scores");
  CHECK(scores.size(1) == 73);
  CHECK(scores[0][pubfig::index_of("Male")].item<float>() == 1.5f);
  CHECK(std::isnan(scores[0][pubfig::index_of("Asian")].item<float>()));
  CHECK(lfw.at("images").num_rows("images") == 1);
}
