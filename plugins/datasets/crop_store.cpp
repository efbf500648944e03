#include "crop_store.hpp"

#include <future>

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "image_files.hpp"

namespace facet::datasets {

namespace {
constexpr std::int64_t kBlock = 128;  // images decoded together (bounded memory, parallel decode)

/// Why an item cannot be used, or empty; fills `crop` (RGB, size x size) when it can.
std::string crop_item(const CropItem& item, const CropOptions& options, cv::Mat& crop) {
  if (item.file.empty()) return "image not downloaded";
  cv::Mat image;
  std::string bytes;
  try {
    bytes = read_bytes(item.file);
  } catch (const std::exception&) {
    return "unreadable file";
  }
  if (auto why = decode_image(bytes, image); !why.empty()) return why;
  const Rect region = crop_region(item.box, options.margin);
  const cv::Rect overlap =
      cv::Rect(item.box.x0, item.box.y0, item.box.width(), item.box.height()) & cv::Rect(0, 0, image.cols, image.rows);
  if (overlap.area() == 0) return "box outside the image";
  crop = crop_face(image, region, options.size);
  return {};
}
}  // namespace

CropResult store_crops(const std::vector<CropItem>& items, const CropOptions& options, RowWriter& out, Context& ctx) {
  CropResult result;
  const auto total = static_cast<std::int64_t>(items.size());
  const std::int64_t s = options.size;
  auto progress = ctx.progress("cropping faces", total, "images");
  // Each block is written on its own thread while the next one is decoded.
  std::future<void> writing;
  for (std::int64_t begin = 0; begin < total; begin += kBlock) {
    const std::int64_t end = std::min(total, begin + kBlock);
    auto block = torch::empty({end - begin, 3, s, s}, torch::kUInt8);
    std::vector<std::string> why(static_cast<size_t>(end - begin));
    at::parallel_for(begin, end, 1, [&](std::int64_t lo, std::int64_t hi) {
      for (std::int64_t i = lo; i < hi; ++i) {
        cv::Mat crop;
        auto& reason = why[static_cast<size_t>(i - begin)];
        reason = crop_item(items[static_cast<size_t>(i)], options, crop);
        if (!reason.empty()) continue;
        // HWC RGB -> CHW
        auto hwc = torch::from_blob(crop.data, {s, s, 3}, torch::kUInt8);
        block[i - begin].copy_(hwc.permute({2, 0, 1}));
      }
    });
    std::vector<std::int64_t> keep;
    for (std::int64_t i = begin; i < end; ++i) {
      const auto& reason = why[static_cast<size_t>(i - begin)];
      if (reason.empty()) {
        keep.push_back(i - begin);
        result.kept.push_back(i);
      } else {
        ++result.dropped[reason];
      }
    }
    if (writing.valid()) writing.get();
    if (!keep.empty()) {
      writing =
          std::async(std::launch::async,
                     [&out, rows = block.index_select(0, torch::tensor(keep, torch::kInt64))] { out.append(rows); });
    }
    progress->advance(end - begin);
  }
  if (writing.valid()) writing.get();
  return result;
}

}  // namespace facet::datasets
