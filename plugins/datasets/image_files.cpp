#include "image_files.hpp"

#include <algorithm>
#include <array>
#include <fstream>

#include <fmt/format.h>
#include <openssl/evp.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <facet/errors.hpp>

namespace facet::datasets {
namespace fs = std::filesystem;

namespace {
constexpr std::array<const char*, 5> kFormats = {"jpg", "png", "gif", "bmp", "webp"};

bool starts_with(std::string_view bytes, std::string_view prefix) { return bytes.substr(0, prefix.size()) == prefix; }
}  // namespace

std::string sniff_image_format(std::string_view b) {
  if (starts_with(b, "\xFF\xD8\xFF")) return "jpg";
  if (starts_with(b, "\x89PNG\r\n\x1A\n")) return "png";
  if (starts_with(b, "GIF87a") || starts_with(b, "GIF89a")) return "gif";
  if (starts_with(b, "BM") && b.size() > 14) return "bmp";
  if (starts_with(b, "RIFF") && b.size() > 12 && b.substr(8, 4) == "WEBP") return "webp";
  return {};
}

bool image_is_complete(std::string_view b, const std::string& format) {
  // Some servers append padding after the image; look past trailing NULs and whitespace.
  size_t end = b.size();
  while (end > 0 && (b[end - 1] == '\0' || std::isspace(static_cast<unsigned char>(b[end - 1])))) --end;
  const auto body = b.substr(0, end);
  if (format == "jpg") return body.size() >= 4 && body.substr(body.size() - 2) == "\xFF\xD9";
  if (format == "png") return body.find("IEND") != std::string_view::npos;
  if (format == "gif") return !body.empty() && body.back() == ';';
  return true;
}

std::string md5_hex(std::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_md5(), nullptr);
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) hex += fmt::format("{:02x}", digest[i]);
  return hex;
}

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(fmt::format("{}: cannot open", path.string()));
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string person_folder(const std::string& person) {
  std::string folder = person;
  for (auto& c : folder) {
    if (c == ' ' || c == '/' || c == '\\') c = '_';
  }
  const bool control = std::any_of(folder.begin(), folder.end(), [](char c) { return c >= 0 && c < 0x20; });
  if (folder.empty() || folder[0] == '.' || person[0] == '_' || control) {
    throw Error(
        fmt::format("person '{}' cannot name an image folder (empty, control characters, or a leading '.' "
                    "or '_', which the download folder keeps for itself)",
                    person));
  }
  return folder;
}

fs::path image_path(const fs::path& root, const std::string& person, std::int64_t imagenum, const std::string& format) {
  return root / person_folder(person) / fmt::format("{}.{}", imagenum, format);
}

fs::path find_image(const fs::path& root, const std::string& person, std::int64_t imagenum) {
  for (const char* format : kFormats) {
    auto path = image_path(root, person, imagenum, format);
    if (fs::exists(path)) return path;
  }
  return {};
}

Rect crop_region(const Rect& box, double margin) {
  const double side = std::max(box.width(), box.height()) * (1.0 + 2.0 * margin);
  const double cx = 0.5 * (box.x0 + box.x1), cy = 0.5 * (box.y0 + box.y1);
  const int s = std::max(1, static_cast<int>(std::lround(side)));
  const int x0 = static_cast<int>(std::lround(cx - 0.5 * side)), y0 = static_cast<int>(std::lround(cy - 0.5 * side));
  return {x0, y0, x0 + s, y0 + s};
}

cv::Mat crop_face(const cv::Mat& image, const Rect& region, int size) {
  cv::Mat square(region.height(), region.width(), image.type(), cv::Scalar::all(0));
  const cv::Rect wanted(region.x0, region.y0, region.width(), region.height());
  const cv::Rect inside = wanted & cv::Rect(0, 0, image.cols, image.rows);
  if (inside.area() > 0) {
    image(inside).copyTo(square(cv::Rect(inside.x - wanted.x, inside.y - wanted.y, inside.width, inside.height)));
  }
  cv::Mat resized, rgb;
  const int interpolation = square.cols > size ? cv::INTER_AREA : cv::INTER_LINEAR;
  cv::resize(square, resized, cv::Size(size, size), 0, 0, interpolation);
  cv::cvtColor(resized, rgb, cv::COLOR_BGR2RGB);
  return rgb;
}

std::string decode_image(std::string_view bytes, cv::Mat& image) {
  const auto format = sniff_image_format(bytes);
  if (format.empty()) return "not an image";
  if (!image_is_complete(bytes, format)) return "truncated";
  const cv::Mat raw(1, static_cast<int>(bytes.size()), CV_8UC1, const_cast<char*>(bytes.data()));
  try {
    image = cv::imdecode(raw, cv::IMREAD_COLOR);
  } catch (const cv::Exception&) {
    image.release();
  }
  return image.empty() ? "undecodable" : "";
}

}  // namespace facet::datasets
