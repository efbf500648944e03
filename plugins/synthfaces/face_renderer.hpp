#pragma once

#include <cstdint>

#include <opencv2/core.hpp>

#include "face_model.hpp"

namespace facet::synthfaces {

/// Draws one anti-aliased face into `image` (size x size, 8-bit RGB).
void render_face(const Person& person, const FaceState& state, cv::Mat& image);

}  // namespace facet::synthfaces
