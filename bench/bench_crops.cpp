// Face-crop benchmark helpers (bench/pubfig_crops.sh):
//   bench_crops make DIR COUNT   PubFig-format index files and COUNT JPEG photos
//                                laid out as pubfig_download leaves them
//   bench_crops decode DIR       the reference: OpenCV reading and decoding every
//                                photo, in parallel on every core, nothing else
#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <torch/torch.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>

#include "facet/files.hpp"
#include "facet/pubfig.hpp"
#include "image_files.hpp"

namespace fs = std::filesystem;
namespace datasets = facet::datasets;

namespace {

constexpr int kPeople = 60;

std::string person_name(int p) { return fmt::format("Person {:02d}", p); }

int make(const fs::path& dir, int count) {
  std::mt19937 rng(1);
  std::ofstream urls(dir / "dev_urls.txt"), attributes(dir / "pubfig_attributes.txt");
  urls << "# PubFig Dataset v1.2 - dev_urls.txt\n#\tperson\timagenum\turl\trect\tmd5sum\n";
  attributes << "# PubFig Dataset v1.2 - pubfig_attributes.txt\n#\tperson\timagenum";
  for (const auto& n : facet::pubfig::kAttributeNames) attributes << '\t' << n;
  attributes << '\n';
  std::uniform_int_distribution<int> side(90, 200);
  std::normal_distribution<float> score(0.0f, 1.0f);
  for (int i = 0; i < count; ++i) {
    // A photo about PubFig's typical size: smooth colour fields plus grain.
    cv::Mat small(11, 9, CV_8UC3), photo, grain(440, 360, CV_8UC3);
    cv::randu(small, 0, 255);
    cv::resize(small, photo, cv::Size(360, 440), 0, 0, cv::INTER_CUBIC);
    cv::randn(grain, 0, 12);
    photo += grain;
    std::vector<uchar> jpeg;
    cv::imencode(".jpg", photo, jpeg, {cv::IMWRITE_JPEG_QUALITY, 90});
    const std::string bytes(jpeg.begin(), jpeg.end());
    const auto person = person_name(i % kPeople);
    const auto imagenum = i / kPeople + 1;
    facet::write_file(datasets::image_path(dir / "images", person, imagenum, "jpg"), bytes);
    const int s = side(rng);
    const int x0 = std::uniform_int_distribution<int>(-20, 360 - s + 20)(rng);
    const int y0 = std::uniform_int_distribution<int>(-20, 440 - s + 20)(rng);
    urls << fmt::format("{}\t{}\thttp://example.invalid/{}.jpg\t{},{},{},{}\t{}\n", person, imagenum, i, x0, y0, x0 + s,
                        y0 + s, datasets::md5_hex(bytes));
    attributes << person << '\t' << imagenum;
    for (int a = 0; a < facet::pubfig::kNumAttributes; ++a) attributes << fmt::format("\t{:.3f}", score(rng));
    attributes << '\n';
  }
  std::ofstream(dir / "eval_urls.txt")
      << "# PubFig Dataset v1.2 - eval_urls.txt\n#\tperson\timagenum\turl\trect\tmd5sum\n";
  return 0;
}

int decode(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(dir / "images")) {
    if (e.path().extension() == ".jpg") files.push_back(e.path());
  }
  cv::setNumThreads(1);
  const auto start = std::chrono::steady_clock::now();
  std::atomic<std::int64_t> pixels{0};
  at::parallel_for(0, static_cast<std::int64_t>(files.size()), 1, [&](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t i = lo; i < hi; ++i) {
      const auto bytes = datasets::read_bytes(files[static_cast<size_t>(i)]);
      const cv::Mat raw(1, static_cast<int>(bytes.size()), CV_8UC1, const_cast<char*>(bytes.data()));
      pixels += cv::imdecode(raw, cv::IMREAD_COLOR).total();
    }
  });
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  fmt::print("{:.1f}\n", static_cast<double>(files.size()) / seconds);
  return pixels > 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 2 ? argv[1] : "";
  torch::set_num_threads(static_cast<int>(std::thread::hardware_concurrency()));
  if (mode == "make" && argc == 4) return make(argv[2], std::stoi(argv[3]));
  if (mode == "decode" && argc == 3) return decode(argv[2]);
  fmt::print(stderr, "usage: bench_crops make DIR COUNT | bench_crops decode DIR\n");
  return 2;
}
