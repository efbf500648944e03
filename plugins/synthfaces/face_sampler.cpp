#include "face_sampler.hpp"

#include <algorithm>

namespace facet::synthfaces {

namespace {
// Attribute indices in PubFig order (see facet/pubfig.hpp).
enum Attr : int {
  kBlackHair = 9,
  kBlondHair = 10,
  kBrownHair = 11,
  kBald = 12,
  kNoEyewear = 13,
  kEyeglasses = 14,
  kSunglasses = 15,
  kMustache = 16,
  kSmiling = 17,
  kFrowning = 18,
  kBlurry = 20,
  kHarshLighting = 21,
  kFlash = 22,
  kSoftLighting = 23,
  kRecedingHairline = 28,
  kBangs = 29,
  kNarrowEyes = 36,
  kEyesOpen = 37,
  kMouthClosed = 41,
  kMouthSlightlyOpen = 42,
  kMouthWideOpen = 43,
  kTeethNotVisible = 44,
  kNoBeard = 45,
  kGoatee = 46,
  kWearingHat = 49,
  kOvalFace = 50,
  kSquareFace = 51,
  kRoundFace = 52,
  kColorPhoto = 53,
  kGrayHair = 58,
  kShinySkin = 62,
  kPaleSkin = 63,
  kFiveOClockShadow = 64,
  kWearingLipstick = 66,
  kWearingEarrings = 70,
};
constexpr int kNumAttributes = 73;
constexpr double kPaleThreshold = 0.575;  // skin tone above which a person is "Pale Skin"

std::uint64_t mix(std::uint64_t a, std::uint64_t b) { return Rng(a ^ (b * 0xD1B54A32D192ED03ULL)).next(); }

void random_colour(Rng& rng, double lo, double hi, double (&out)[3]) {
  for (double& c : out) c = rng.uniform(lo, hi);
}
}  // namespace

const std::vector<int>& rendered_attributes() {
  static const std::vector<int> rendered = {
      kBlackHair,       kBlondHair,      kBrownHair,     kGrayHair,    kBald,
      kNoEyewear,       kEyeglasses,     kSunglasses,    kMustache,    kSmiling,
      kFrowning,        kBlurry,         kHarshLighting, kFlash,       kSoftLighting,
      kBangs,           kNarrowEyes,     kEyesOpen,      kMouthClosed, kMouthSlightlyOpen,
      kMouthWideOpen,   kNoBeard,        kGoatee,        kWearingHat,  kOvalFace,
      kSquareFace,      kRoundFace,      kColorPhoto,    kPaleSkin,    kFiveOClockShadow,
      kWearingLipstick, kWearingEarrings};
  return rendered;
}

Person sample_person(std::uint64_t seed, std::int64_t id) {
  Rng rng(mix(seed, static_cast<std::uint64_t>(id) + 1));
  Person p;
  // Bimodal tones with a gap around the threshold, so the label is visible.
  p.skin_tone = rng.chance(0.5) ? rng.uniform(0.68, 1.0) : rng.uniform(0.0, 0.47);
  p.shape = static_cast<Shape>(rng.pick({1 / 3.0, 1 / 3.0, 1 / 3.0}));
  p.eye_colour = rng.pick({0.5, 0.3, 0.2});
  p.hair = static_cast<Hair>(rng.pick({0.27, 0.2, 0.27, 0.16, 0.1}));
  p.beard_tendency = rng.chance(0.45) ? rng.uniform(0.3, 0.8) : 0.0;
  p.lipstick_tendency = p.beard_tendency == 0.0 && rng.chance(0.5) ? rng.uniform(0.4, 0.9) : 0.0;
  return p;
}

FaceState sample_state(const Person& person, Rng& rng) {
  FaceState s;
  s.expression = static_cast<Expression>(rng.pick({0.45, 0.35, 0.2}));
  s.mouth = static_cast<Mouth>(rng.pick({0.5, 0.3, 0.2}));
  s.eyewear = static_cast<Eyewear>(rng.pick({0.6, 0.25, 0.15}));
  s.narrow_eyes = s.eyewear != Eyewear::Sunglasses && rng.chance(0.3);  // eyes behind sunglasses count as open
  s.hat = person.hair != Hair::Bald && rng.chance(0.2);
  s.bangs = person.hair != Hair::Bald && rng.chance(0.3);
  s.goatee = rng.chance(person.beard_tendency);
  s.mustache = rng.chance(person.beard_tendency);
  s.stubble = rng.chance(person.beard_tendency * 0.8);
  s.lipstick = rng.chance(person.lipstick_tendency);
  s.earrings = rng.chance(0.25);
  s.blurry = rng.chance(0.15);
  s.grayscale = rng.chance(0.15);
  s.lighting = static_cast<Lighting>(rng.pick({0.4, 0.2, 0.2, 0.2}));
  s.roll_deg = rng.uniform(-12, 12);
  s.scale = rng.uniform(0.92, 1.06);
  s.shift_x = rng.uniform(-0.04, 0.04);
  s.shift_y = rng.uniform(-0.04, 0.04);
  s.light_angle = rng.uniform(0, 6.283185307179586);
  random_colour(rng, 40, 220, s.background);
  random_colour(rng, 30, 230, s.hat_colour);
  random_colour(rng, 10, 90, s.frame_colour);
  return s;
}

void fill_scores(const Person& person, const FaceState& s, double label_noise, Rng& rng, float* scores) {
  // Attributes the picture does not show: i.i.d. noise around a fixed,
  // attribute-specific bias (so the majority class is not always 50%).
  for (int a = 0; a < kNumAttributes; ++a) {
    const double bias = ((a * 37) % 11 - 5) / 10.0;
    scores[a] = static_cast<float>(bias + rng.normal());
  }
  // Members of rendered groups that are never drawn: always negative.
  for (int a : {kRecedingHairline, kTeethNotVisible, kShinySkin})
    scores[a] = static_cast<float>(-rng.uniform(0.3, 1.5));

  auto set = [&](int attr, bool present, double magnitude) {
    if (rng.chance(label_noise)) {
      scores[attr] = static_cast<float>((present ? -1 : 1) * rng.uniform(0.01, 0.25));  // flipped near the boundary
    } else {
      scores[attr] = static_cast<float>((present ? 1 : -1) * magnitude);
    }
  };
  auto mark = [&](int attr, bool present) { set(attr, present, rng.uniform(0.3, 2.0)); };
  mark(kBlackHair, person.hair == Hair::Black);
  mark(kBlondHair, person.hair == Hair::Blond);
  mark(kBrownHair, person.hair == Hair::Brown);
  mark(kGrayHair, person.hair == Hair::Gray);
  mark(kBald, person.hair == Hair::Bald);
  mark(kNoEyewear, s.eyewear == Eyewear::None);
  mark(kEyeglasses, s.eyewear == Eyewear::Glasses);
  mark(kSunglasses, s.eyewear == Eyewear::Sunglasses);
  mark(kMustache, s.mustache);
  mark(kSmiling, s.expression == Expression::Smile);
  mark(kFrowning, s.expression == Expression::Frown);
  mark(kBlurry, s.blurry);
  mark(kHarshLighting, s.lighting == Lighting::Harsh);
  mark(kFlash, s.lighting == Lighting::Flash);
  mark(kSoftLighting, s.lighting == Lighting::Soft);
  mark(kBangs, s.bangs);
  mark(kNarrowEyes, s.narrow_eyes);
  mark(kEyesOpen, !s.narrow_eyes);
  mark(kMouthClosed, s.mouth == Mouth::Closed);
  mark(kMouthSlightlyOpen, s.mouth == Mouth::SlightlyOpen);
  mark(kMouthWideOpen, s.mouth == Mouth::WideOpen);
  mark(kNoBeard, !s.goatee);
  mark(kGoatee, s.goatee);
  mark(kWearingHat, s.hat);
  mark(kOvalFace, person.shape == Shape::Oval);
  mark(kSquareFace, person.shape == Shape::Square);
  mark(kRoundFace, person.shape == Shape::Round);
  mark(kColorPhoto, !s.grayscale);
  set(kPaleSkin, person.skin_tone > kPaleThreshold, 0.2 + 4.0 * std::fabs(person.skin_tone - kPaleThreshold));
  mark(kFiveOClockShadow, s.stubble);
  mark(kWearingLipstick, s.lipstick);
  mark(kWearingEarrings, s.earrings);
}

}  // namespace facet::synthfaces
