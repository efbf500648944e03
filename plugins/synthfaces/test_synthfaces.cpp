#include <set>

#include <torch/torch.h>
#include <catch2/catch.hpp>

#include <opencv2/imgproc.hpp>

#include "face_renderer.hpp"
#include "facet/pubfig.hpp"
#include "test_support.hpp"

using namespace facet;

namespace {
Artifacts faces(const std::string& with, std::uint64_t seed = 3) {
  return test::run_step("synthfaces", {}, with, seed);
}

torch::Tensor column(const Artifact& attributes, const char* name) {
  return attributes.get("scores").select(1, pubfig::index_of(name));
}

/// Mean absolute difference between horizontally adjacent pixels, per image.
torch::Tensor sharpness(const torch::Tensor& images) {
  const auto f = images.to(torch::kFloat32);
  return (f.slice(3, 1) - f.slice(3, 0, -1)).abs().mean({1, 2, 3});
}
}  // namespace

TEST_CASE("synthfaces: shapes, names and determinism", "[synthfaces]") {
  const auto a = faces("{count: 40, size: 32, persons: 5}");
  const auto& images = a.at("images");
  const auto& attributes = a.at("attributes");
  CHECK(images.shape("images") == std::vector<std::int64_t>{40, 3, 32, 32});
  CHECK(images.dtype("images") == torch::kUInt8);
  CHECK(attributes.shape("scores") == std::vector<std::int64_t>{40, 73});
  CHECK(attributes.attr_strings("attribute_names").at(64) == "5 o' Clock Shadow");
  CHECK(attributes.attr_strings("rendered_attributes").size() >= 20);
  CHECK(attributes.get("person").max().item<std::int64_t>() < 5);

  CHECK(torch::equal(faces("{count: 40, size: 32, persons: 5}").at("images").get("images"), images.get("images")));
  CHECK_FALSE(
      torch::equal(faces("{count: 40, size: 32, persons: 5}", 4).at("images").get("images"), images.get("images")));
}

TEST_CASE("synthfaces: the same images whatever the thread count", "[synthfaces]") {
  const int before = torch::get_num_threads();
  torch::set_num_threads(1);
  const auto one = faces("{count: 600, size: 24}").at("images").get("images");
  torch::set_num_threads(2);
  const auto two = faces("{count: 600, size: 24}").at("images").get("images");
  torch::set_num_threads(before);
  CHECK(torch::equal(one, two));
}

TEST_CASE("synthfaces: labels agree with the pictures", "[synthfaces]") {
  const auto a = faces("{count: 600, size: 48, persons: 30, label_noise: 0.0}");
  const auto images = a.at("images").get("images");
  const auto& attributes = a.at("attributes");

  SECTION("grayscale pictures are exactly the ones not labelled Color Photo") {
    const auto gray = (images.select(1, 0) == images.select(1, 1)).all(2).all(1) &
                      (images.select(1, 1) == images.select(1, 2)).all(2).all(1);
    CHECK(torch::equal(gray, column(attributes, "Color Photo") < 0));
    CHECK(gray.sum().item<std::int64_t>() > 40);
  }
  SECTION("blurry pictures are less sharp") {
    const auto blurry = column(attributes, "Blurry") > 0;
    const auto s = sharpness(images);
    CHECK(s.index({blurry}).mean().item<float>() < 0.8f * s.index({~blurry}).mean().item<float>());
  }
  SECTION("person traits stay fixed across a person's images") {
    const auto person = attributes.get("person");
    for (const char* trait : {"Pale Skin", "Oval Face", "Round Face", "Square Face", "Bald", "Gray Hair"}) {
      const auto positive = column(attributes, trait) > 0;
      for (std::int64_t p = 0; p < 30; ++p) {
        const auto mine = positive.index({person == p});
        INFO(trait << " of person " << p);
        CHECK((mine.all().item<bool>() || (~mine).all().item<bool>()));
      }
    }
  }
  SECTION("mutually exclusive groups have at most one positive member") {
    std::set<int> rendered;
    for (const auto& name : attributes.attr_strings("rendered_attributes")) rendered.insert(pubfig::index_of(name));
    for (const auto& group : pubfig::groups()) {
      const bool drawn = std::any_of(group.begin(), group.end(), [&](int m) { return rendered.count(m) != 0; });
      if (!drawn) continue;  // groups of noise attributes are independent draws
      auto members = torch::zeros({600}, torch::kInt64);
      for (int m : group) members += (attributes.get("scores").select(1, m) > 0).to(torch::kInt64);
      CHECK(members.max().item<std::int64_t>() <= 1);
    }
  }
}

TEST_CASE("synthfaces: label noise flips the asked fraction near the boundary", "[synthfaces]") {
  const auto clean = faces("{count: 2000, size: 16, label_noise: 0.0}").at("attributes");
  const auto noisy = faces("{count: 2000, size: 16, label_noise: 0.1}").at("attributes");
  const auto col = pubfig::index_of("Smiling");
  const auto a = clean.get("scores").select(1, col), b = noisy.get("scores").select(1, col);
  const double flipped = ((a > 0) != (b > 0)).to(torch::kFloat32).mean().item<double>();
  CHECK(flipped == Approx(0.1).margin(0.025));
  CHECK(b.index({(a > 0) != (b > 0)}).abs().max().item<float>() < 0.3f);
}

TEST_CASE("synthfaces: every drawn feature changes at least 30 pixels of a 64-px face", "[synthfaces]") {
  // A labelled feature the picture barely shows cannot be learnt, nor found
  // in generated faces: earrings once changed 8 pixels on square faces and
  // a smile 16, when every other feature changes 37 or more.
  using namespace synthfaces;
  const std::vector<std::pair<const char*, void (*)(FaceState&)>> features = {
      {"earrings", [](FaceState& s) { s.earrings = true; }},
      {"smile", [](FaceState& s) { s.expression = Expression::Smile; }},
      {"frown", [](FaceState& s) { s.expression = Expression::Frown; }},
      {"mouth open", [](FaceState& s) { s.mouth = Mouth::SlightlyOpen; }},
      {"lipstick", [](FaceState& s) { s.lipstick = true; }},
      {"mustache", [](FaceState& s) { s.mustache = true; }},
      {"goatee", [](FaceState& s) { s.goatee = true; }},
      {"stubble", [](FaceState& s) { s.stubble = true; }},
      {"narrow eyes", [](FaceState& s) { s.narrow_eyes = true; }},
      {"glasses", [](FaceState& s) { s.eyewear = Eyewear::Glasses; }},
      {"hat", [](FaceState& s) { s.hat = true; }},
      {"bangs", [](FaceState& s) { s.bangs = true; }},
  };
  for (const auto& [name, add] : features) {
    for (Shape shape : {Shape::Oval, Shape::Round, Shape::Square}) {
      for (Hair hair : {Hair::Black, Hair::Blond, Hair::Brown, Hair::Gray, Hair::Bald}) {
        Person p;
        p.shape = shape;
        p.hair = hair;
        p.skin_tone = 0.8;
        FaceState s;
        for (double& c : s.background) c = 130;
        cv::Mat plain(64, 64, CV_8UC3), with(64, 64, CV_8UC3);
        render_face(p, s, plain);
        add(s);
        render_face(p, s, with);
        cv::Mat diff;
        cv::absdiff(plain, with, diff);
        std::vector<cv::Mat> channels;
        cv::split(diff, channels);
        const cv::Mat largest = cv::max(channels[0], cv::max(channels[1], channels[2]));
        INFO(name << " on face shape " << static_cast<int>(shape) << ", hair " << static_cast<int>(hair));
        CHECK(cv::countNonZero(largest > 30) >= 30);
      }
    }
  }
}
