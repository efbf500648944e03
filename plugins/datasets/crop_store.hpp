#pragma once

// Decodes images, crops their face boxes and streams the crops into a
// uint8 [N, 3, size, size] tensor, a block at a time, so memory stays
// bounded whatever the data set's size. Unusable images are skipped and
// counted by reason, never a crash.

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <facet/context.hpp>

#include "index_files.hpp"

namespace facet::datasets {

struct CropItem {
  std::filesystem::path file;  ///< empty: the image is not on disk
  Rect box;
};

struct CropOptions {
  int size = 224;
  double margin = 0.15;  ///< of the box's longer side, added on each side
};

struct CropResult {
  std::vector<std::int64_t> kept;               ///< indices into the items, in order
  std::map<std::string, std::int64_t> dropped;  ///< reason -> count
};

/// Writes the crops of every usable item to `out` (declared with items.size()
/// rows, finished early when some are dropped).
CropResult store_crops(const std::vector<CropItem>& items, const CropOptions& options, RowWriter& out, Context& ctx);

}  // namespace facet::datasets
