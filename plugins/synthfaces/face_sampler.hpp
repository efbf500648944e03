#pragma once

#include <cstdint>
#include <vector>

#include "face_model.hpp"

namespace facet::synthfaces {

/// Traits of person `id` under dataset seed `seed`.
Person sample_person(std::uint64_t seed, std::int64_t id);
/// The state of one image of `person`.
FaceState sample_state(const Person& person, Rng& rng);

/// The 73 PubFig attribute scores of an image: a sign that agrees with the
/// picture for the rendered attributes (flipped near the boundary with
/// probability `label_noise`), noise independent of the picture otherwise.
void fill_scores(const Person& person, const FaceState& state, double label_noise, Rng& rng, float* scores);

/// Indices of the attributes whose label the picture shows.
const std::vector<int>& rendered_attributes();

}  // namespace facet::synthfaces
