#pragma once

// What a synthetic face is: the traits fixed for a person, the state that
// varies from image to image, and a small deterministic random generator.

#include <cmath>
#include <cstdint>

namespace facet::synthfaces {

/// splitmix64: tiny, fast, and the same numbers on every platform.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  /// Uniform in [0, 1).
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  bool chance(double p) { return uniform() < p; }
  /// Standard normal (Box-Muller).
  double normal() {
    const double u1 = 1.0 - uniform(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  /// Index drawn with the given weights (summing to 1).
  template <std::size_t N>
  int pick(const double (&weights)[N]) {
    double u = uniform();
    for (std::size_t i = 0; i + 1 < N; ++i) {
      if (u < weights[i]) return static_cast<int>(i);
      u -= weights[i];
    }
    return static_cast<int>(N - 1);
  }

 private:
  std::uint64_t state_;
};

enum class Hair { Black, Blond, Brown, Gray, Bald };
enum class Shape { Oval, Round, Square };
enum class Eyewear { None, Glasses, Sunglasses };
enum class Expression { Neutral, Smile, Frown };
enum class Mouth { Closed, SlightlyOpen, WideOpen };
enum class Lighting { Plain, Harsh, Flash, Soft };

/// Fixed for a person across all their images.
struct Person {
  double skin_tone = 0.5;  ///< 0 dark ... 1 pale
  Shape shape = Shape::Oval;
  int eye_colour = 0;  ///< 0 brown, 1 blue, 2 green (drawn, not labelled)
  Hair hair = Hair::Black;
  double beard_tendency = 0;     ///< chance of a goatee / mustache / stubble in an image
  double lipstick_tendency = 0;  ///< chance of lipstick (never with facial hair)
};

/// What varies per image.
struct FaceState {
  Expression expression = Expression::Neutral;
  Mouth mouth = Mouth::Closed;
  bool narrow_eyes = false;
  Eyewear eyewear = Eyewear::None;
  bool hat = false, bangs = false, mustache = false, goatee = false, stubble = false;
  bool lipstick = false, earrings = false, blurry = false, grayscale = false;
  Lighting lighting = Lighting::Plain;
  // pose and colours (not labelled)
  double roll_deg = 0, scale = 1, shift_x = 0, shift_y = 0, light_angle = 0;
  double background[3] = {0, 0, 0};
  double hat_colour[3] = {0, 0, 0};
  double frame_colour[3] = {0, 0, 0};
};

}  // namespace facet::synthfaces
