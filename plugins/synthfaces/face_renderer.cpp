#include "face_renderer.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include <opencv2/imgproc.hpp>

namespace facet::synthfaces {

namespace {

constexpr int kShift = 4;                      // fractional bits of the drawing coordinates
constexpr double kSubpixel = 1 << kShift;      // one pixel in drawing coordinates
constexpr double kFaceX = 0.5, kFaceY = 0.53;  // face centre, in units of the image size
constexpr double kEyeY = 0.47, kEyeDx = 0.11, kMouthY = 0.68;

using Colour = cv::Scalar;  // (R, G, B)

Colour rgb(const double (&c)[3]) { return {c[0], c[1], c[2]}; }
Colour scale(const Colour& c, double f) { return {c[0] * f, c[1] * f, c[2] * f}; }
Colour blend(const Colour& a, const Colour& b, double t) {
  return {a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t};
}

Colour skin_colour(double tone) { return blend({92, 58, 40}, {246, 214, 192}, tone); }

Colour hair_colour(Hair hair) {
  switch (hair) {
    case Hair::Black:
      return {24, 20, 22};
    case Hair::Blond:
      return {222, 180, 80};
    case Hair::Brown:
      return {112, 66, 34};
    case Hair::Gray:
      return {178, 178, 184};
    case Hair::Bald:
      break;
  }
  return {60, 45, 35};  // facial hair of bald persons
}

/// Draws in units of the image size, anti-aliased, with sub-pixel precision.
class Canvas {
 public:
  explicit Canvas(cv::Mat& image) : image_(image), size_(image.cols) {}

  cv::Point at(double x, double y) const {
    return {static_cast<int>(std::lround(x * size_ * kSubpixel)), static_cast<int>(std::lround(y * size_ * kSubpixel))};
  }
  cv::Size axes(double rx, double ry) const {
    return {std::max(1, static_cast<int>(std::lround(rx * size_ * kSubpixel))),
            std::max(1, static_cast<int>(std::lround(ry * size_ * kSubpixel)))};
  }
  /// A line width in units of the image size, at least one pixel.
  int width(double w) const { return std::max(1, static_cast<int>(std::lround(w * size_))); }

  void ellipse(double x, double y, double rx, double ry, const Colour& c, double angle = 0, double from = 0,
               double to = 360, int thickness = cv::FILLED) {
    cv::ellipse(image_, at(x, y), axes(rx, ry), angle, from, to, c, thickness, cv::LINE_AA, kShift);
  }
  void polygon(const std::vector<cv::Point2d>& pts, const Colour& c) {
    std::vector<cv::Point> p;
    for (const auto& q : pts) p.push_back(at(q.x, q.y));
    cv::fillPoly(image_, std::vector<std::vector<cv::Point>>{p}, c, cv::LINE_AA, kShift);
  }
  void polyline(const std::vector<cv::Point2d>& pts, const Colour& c, double w) {
    std::vector<cv::Point> p;
    for (const auto& q : pts) p.push_back(at(q.x, q.y));
    cv::polylines(image_, std::vector<std::vector<cv::Point>>{p}, false, c, width(w), cv::LINE_AA, kShift);
  }
  void line(double x0, double y0, double x1, double y1, const Colour& c, double w) {
    cv::line(image_, at(x0, y0), at(x1, y1), c, width(w), cv::LINE_AA, kShift);
  }

 private:
  cv::Mat& image_;
  int size_;
};

struct Geometry {
  double rx, ry;  // face half-width and half-height
};

Geometry face_geometry(Shape shape) {
  switch (shape) {
    case Shape::Oval:
      return {0.24, 0.35};
    case Shape::Round:
      return {0.32, 0.30};
    case Shape::Square:
      return {0.29, 0.33};
  }
  return {0.28, 0.33};
}

void draw_face_shape(Canvas& cv, Shape shape, const Geometry& g, const Colour& c, double dy = 0) {
  if (shape != Shape::Square) {
    cv.ellipse(kFaceX, kFaceY + dy, g.rx, g.ry, c);
    return;
  }
  // A rounded rectangle: flat jaw with visible corners.
  const double r = 0.045, x0 = kFaceX - g.rx, x1 = kFaceX + g.rx, y0 = kFaceY - g.ry + dy, y1 = kFaceY + g.ry + dy;
  std::vector<cv::Point2d> pts;
  auto arc = [&](double cx, double cy, double a0) {
    for (int k = 0; k <= 6; ++k) {
      const double a = (a0 + 15.0 * k) * M_PI / 180.0;
      pts.push_back({cx + r * std::cos(a), cy + r * std::sin(a)});
    }
  };
  arc(x1 - r, y1 - r, 0);
  arc(x0 + r, y1 - r, 90);
  arc(x0 + r, y0 + r, 180);
  arc(x1 - r, y0 + r, 270);
  cv.polygon(pts, c);
}

/// Points of a mouth curve from left to right corner, bending by `bend`
/// (positive: corners up, a smile) and offset vertically by `dy`.
std::vector<cv::Point2d> mouth_curve(double half_width, double bend, double dy, bool reverse = false) {
  std::vector<cv::Point2d> pts;
  for (int k = 0; k <= 10; ++k) {
    const double t = -1.0 + 0.2 * k;
    pts.push_back({kFaceX + t * half_width, kMouthY + dy + bend * (1.0 - t * t) - bend});
  }
  if (reverse) std::reverse(pts.begin(), pts.end());
  return pts;
}

void draw_hair_back(Canvas& cv, const Person& p, const Geometry& g) {
  if (p.hair == Hair::Bald) return;
  const Colour hair = hair_colour(p.hair);
  cv.ellipse(kFaceX, kFaceY - 0.06, g.rx + 0.07, g.ry + 0.03, hair, 0, 180, 360);
  cv.polygon({{kFaceX - g.rx - 0.07, kFaceY - 0.06},
              {kFaceX + g.rx + 0.07, kFaceY - 0.06},
              {kFaceX + g.rx + 0.05, kFaceY + 0.08},
              {kFaceX - g.rx - 0.05, kFaceY + 0.08}},
             hair);
  if (p.hair == Hair::Gray) {  // light strands: gray stays distinct from blond in grayscale photos
    for (int k = -3; k <= 3; ++k) {
      cv.line(kFaceX + k * 0.05, kFaceY - g.ry - 0.02, kFaceX + k * 0.075, kFaceY - 0.08, {235, 235, 240}, 0.012);
    }
  }
}

void draw_ears(Canvas& cv, const Geometry& g, const Colour& skin) {
  for (int side : {-1, 1}) cv.ellipse(kFaceX + side * (g.rx + 0.005), kEyeY + 0.05, 0.035, 0.06, scale(skin, 0.9));
}

/// Gold drops hanging over the jaw's edge, drawn after the face so that no
/// face shape hides them; the dark rim keeps them apart from blond or gray
/// hair, also in grayscale photos.
void draw_earrings(Canvas& cv, const FaceState& s, const Geometry& g) {
  if (!s.earrings) return;
  const Colour rim{110, 80, 20}, gold{245, 205, 50};
  for (int side : {-1, 1}) {
    const double x = kFaceX + side * g.rx, y = kEyeY + 0.15;
    cv.line(x, kEyeY + 0.09, x, y, rim, 0.015);  // the hook
    cv.ellipse(x, y, 0.042, 0.042, rim);
    cv.ellipse(x, y, 0.028, 0.028, gold);
  }
}

void draw_lower_face(Canvas& cv, const Person& p, const FaceState& s, const Geometry& g, const Colour& skin) {
  const Colour beard = scale(hair_colour(p.hair), p.hair == Hair::Gray ? 0.8 : 0.9);
  if (s.stubble) {
    const Colour shadow = blend(skin, {45, 40, 40}, 0.45);
    cv.ellipse(kFaceX, kFaceY + 0.07, g.rx * 0.88, g.ry * 0.86, shadow, 0, 10, 170);
    draw_face_shape(cv, p.shape, {g.rx * 0.8, g.ry * 0.6}, skin, -0.12);  // keep cheeks clear
  }
  if (s.goatee) cv.ellipse(kFaceX, kMouthY + 0.095, 0.06, 0.055, beard);
}

void draw_eyes(Canvas& cv, const Person& p, const FaceState& s) {
  static const Colour iris_colours[] = {{96, 56, 24}, {60, 120, 200}, {70, 150, 80}};
  const Colour iris = iris_colours[p.eye_colour];
  const double open = s.narrow_eyes ? 0.011 : 0.03;
  for (int side : {-1, 1}) {
    const double x = kFaceX + side * kEyeDx;
    cv.ellipse(x, kEyeY, 0.055, open, {250, 250, 250});
    cv.ellipse(x, kEyeY, 0.022, std::min(0.022, open), iris);
    cv.ellipse(x, kEyeY, 0.009, std::min(0.009, open), {10, 10, 10});
    // Brows slant inward and down when frowning.
    const double inner = s.expression == Expression::Frown ? 0.035 : 0.0;
    const double lift = s.narrow_eyes ? 0.055 : 0.07;
    cv.line(x - side * 0.06, kEyeY - lift, x + side * 0.05, kEyeY - lift + inner, {50, 40, 35}, 0.022);
  }
}

void draw_mouth(Canvas& cv, const Person& p, const FaceState& s, const Colour& skin) {
  const bool smile = s.expression == Expression::Smile;
  const double bend = smile ? 0.055 : s.expression == Expression::Frown ? -0.04 : 0.0;
  const Colour lips = s.lipstick ? Colour{205, 18, 45} : blend(skin, {150, 60, 60}, 0.5);
  const double lip_width = s.lipstick ? 0.035 : 0.02;
  const double half = smile ? 0.12 : 0.1;  // a smile widens the mouth
  if (smile) {                             // and raises the cheeks: creases from the nose to the mouth's corners
    for (int side : {-1, 1}) {
      cv.line(kFaceX + side * 0.1, kMouthY - 0.12, kFaceX + side * (half + 0.035), kMouthY - bend - 0.005,
              scale(skin, 0.7), 0.018);
    }
  }
  if (s.mustache) {
    const Colour beard = scale(hair_colour(p.hair), 0.85);
    cv.polygon({{kFaceX - half - 0.01, kMouthY - 0.02 - bend},
                {kFaceX, kMouthY - 0.065},
                {kFaceX + half + 0.01, kMouthY - 0.02 - bend},
                {kFaceX, kMouthY - 0.04}},
               beard);
  }
  if (s.mouth == Mouth::Closed) {
    cv.polyline(mouth_curve(half, bend, 0), lips, lip_width);
    return;
  }
  const double opening = s.mouth == Mouth::WideOpen ? 0.09 : 0.035;
  auto upper = mouth_curve(half, bend, -opening * 0.35);
  auto lower = mouth_curve(half, bend, opening * 0.65, true);
  std::vector<cv::Point2d> hole = upper;
  hole.insert(hole.end(), lower.begin(), lower.end());
  cv.polygon(hole, {70, 20, 25});
  if (s.mouth == Mouth::WideOpen) {
    auto teeth = mouth_curve(half * 0.75, bend, -opening * 0.3);
    auto teeth_low = mouth_curve(half * 0.75, bend, -opening * 0.05, true);
    teeth.insert(teeth.end(), teeth_low.begin(), teeth_low.end());
    cv.polygon(teeth, {245, 245, 240});
  }
  cv.polyline(upper, lips, lip_width);
  cv.polyline(mouth_curve(half, bend, opening * 0.65), lips, lip_width);
}

void draw_eyewear(Canvas& cv, const FaceState& s, const Geometry& g) {
  if (s.eyewear == Eyewear::None) return;
  const Colour frame = rgb(s.frame_colour);
  for (int side : {-1, 1}) {
    const double x = kFaceX + side * kEyeDx;
    if (s.eyewear == Eyewear::Sunglasses) {
      cv.ellipse(x, kEyeY + 0.005, 0.075, 0.055, {18, 18, 22});
      cv.ellipse(x - 0.025, kEyeY - 0.02, 0.015, 0.008, {90, 90, 100});  // reflection
    } else {
      cv.ellipse(x, kEyeY, 0.07, 0.055, frame, 0, 0, 360, cv.width(0.016));
    }
    cv.line(x + side * 0.07, kEyeY - 0.01, kFaceX + side * g.rx, kEyeY - 0.02, frame, 0.014);
  }
  cv.line(kFaceX - kEyeDx + 0.07, kEyeY - 0.01, kFaceX + kEyeDx - 0.07, kEyeY - 0.01, frame, 0.016);
}

void draw_top(Canvas& cv, const Person& p, const FaceState& s, const Geometry& g) {
  const double top = kFaceY - g.ry;
  if (s.bangs) {
    std::vector<cv::Point2d> fringe = {{kFaceX + g.rx, top + 0.06}, {kFaceX - g.rx, top + 0.06}};
    for (int k = 0; k <= 8; ++k) {  // jagged lower edge
      const double x = kFaceX - g.rx * 0.9 + k * g.rx * 0.225;
      fringe.push_back({x, top + (k % 2 == 0 ? 0.17 : 0.13)});
    }
    cv.polygon(fringe, hair_colour(p.hair));
  } else if (p.hair != Hair::Bald) {
    cv.ellipse(kFaceX, top + 0.04, g.rx * 0.9, 0.05, hair_colour(p.hair), 0, 180, 360);
  }
  if (s.hat) {
    const Colour hat = rgb(s.hat_colour);
    cv.polygon({{kFaceX - g.rx * 0.95, top + 0.05},
                {kFaceX + g.rx * 0.95, top + 0.05},
                {kFaceX + g.rx * 0.8, top - 0.13},
                {kFaceX - g.rx * 0.8, top - 0.13}},
               hat);
    cv.ellipse(kFaceX, top + 0.05, g.rx + 0.1, 0.04, scale(hat, 0.8));
  }
}

/// Pose: rotation, scale and shift of the whole picture.
void apply_pose(const FaceState& s, cv::Mat& image) {
  const double size = image.cols;
  cv::Mat m =
      cv::getRotationMatrix2D({static_cast<float>(size / 2), static_cast<float>(size / 2)}, s.roll_deg, s.scale);
  m.at<double>(0, 2) += s.shift_x * size;
  m.at<double>(1, 2) += s.shift_y * size;
  cv::warpAffine(image, image, m, image.size(), cv::INTER_LINEAR, cv::BORDER_REPLICATE);
}

/// Lighting as image statistics: harsh = strong directional contrast,
/// flash = bright centre and dark corners, soft = low contrast.
void apply_lighting(const FaceState& s, cv::Mat& image) {
  if (s.lighting == Lighting::Plain) return;
  const int n = image.cols;
  cv::Mat f;
  image.convertTo(f, CV_32FC3);
  const double dx = std::cos(s.light_angle), dy = std::sin(s.light_angle);
  for (int y = 0; y < n; ++y) {
    auto* row = f.ptr<cv::Vec3f>(y);
    const double v = (y + 0.5) / n - 0.5;
    for (int x = 0; x < n; ++x) {
      const double u = (x + 0.5) / n - 0.5;
      double gain = 1.0, offset = 0.0, contrast = 1.0;
      if (s.lighting == Lighting::Harsh) {
        gain = 1.0 + 1.5 * (u * dx + v * dy);
        contrast = 1.5;
      } else if (s.lighting == Lighting::Flash) {
        gain = 0.55 + 0.95 * std::exp(-(u * u + v * v) / 0.06);
      } else {
        contrast = 0.45;
        offset = 25;
      }
      for (int c = 0; c < 3; ++c) {
        row[x][c] = static_cast<float>(((row[x][c] - 128.0) * contrast + 128.0) * gain + offset);
      }
    }
  }
  f.convertTo(image, CV_8UC3);  // saturates
}

}  // namespace

void render_face(const Person& p, const FaceState& s, cv::Mat& image) {
  image.setTo(rgb(s.background));
  Canvas cv(image);
  const Geometry g = face_geometry(p.shape);
  const Colour skin = skin_colour(p.skin_tone);
  draw_hair_back(cv, p, g);
  draw_ears(cv, g, skin);
  cv.ellipse(kFaceX, kFaceY + g.ry + 0.08, 0.1, 0.1, scale(skin, 0.92));  // neck
  draw_face_shape(cv, p.shape, g, skin);
  draw_lower_face(cv, p, s, g, skin);
  draw_earrings(cv, s, g);
  draw_eyes(cv, p, s);
  cv.line(kFaceX, kEyeY + 0.03, kFaceX - 0.02, kEyeY + 0.12, scale(skin, 0.75), 0.015);  // nose
  draw_mouth(cv, p, s, skin);
  draw_eyewear(cv, s, g);
  draw_top(cv, p, s, g);
  apply_pose(s, image);
  apply_lighting(s, image);
  if (s.blurry) {
    const double sigma = 1.4 * image.cols / 64.0;
    cv::GaussianBlur(image, image, cv::Size(), sigma);
  }
  if (s.grayscale) {
    cv::Mat gray;
    cv::cvtColor(image, gray, cv::COLOR_RGB2GRAY);
    cv::cvtColor(gray, image, cv::COLOR_GRAY2RGB);
  }
}

}  // namespace facet::synthfaces
