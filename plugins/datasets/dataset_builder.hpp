#pragma once

// The last stage every real-data loader shares: crop the rows' faces into a
// streamed image tensor and assemble the two outputs of the dataset contract
// (as synthfaces): `images` and `attributes` (scores, person, image_id,
// subset when the data set has its own split).

#include <string>
#include <vector>

#include <facet/artifact.hpp>
#include <facet/context.hpp>

#include "crop_store.hpp"
#include "dataset_report.hpp"

namespace facet::datasets {

struct DatasetRow {
  CropItem crop;
  std::string person;
  std::int64_t image_id = 0;
  std::int64_t subset = -1;   ///< 0 train, 1 val, 2 test; -1: the data set has no split of its own
  std::vector<float> scores;  ///< one per attribute name (NaN: unknown)
};

/// Crops `rows` into the data set. `account` tells what was read and already
/// dropped; the crop failures are added and everything is reported.
Artifacts build_dataset(const std::vector<DatasetRow>& rows, const std::vector<std::string>& attribute_names,
                        const CropOptions& options, IndexAccount account, Context& ctx);

}  // namespace facet::datasets
