#pragma once

// Readers for face-attribute index files: PubFig v1.2 (`dev_urls.txt`,
// `eval_urls.txt`, `pubfig_attributes.txt`, `*_people.txt`,
// `pubfig_labels.txt`), LFW's `lfw_attributes.txt` (PubFig's format) and
// CelebA's `list_attr_celeba.txt`, `list_eval_partition.txt`,
// `list_bbox_celeba.txt`. Every format error names the file and line.

#include <array>
#include <cstdint>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace facet::datasets {

/// A face box in pixels, corners (x0, y0) and (x1, y1) exclusive. PubFig's
/// boxes may reach outside the image (negative corners occur).
struct Rect {
  int x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  bool valid() const { return x1 > x0 && y1 > y0; }
  int width() const { return x1 - x0; }
  int height() const { return y1 - y0; }
};

/// (person, imagenum): the key PubFig's files are joined on.
using ImageKey = std::pair<std::string, std::int64_t>;

/// One row of dev_urls.txt / eval_urls.txt.
struct UrlRow {
  std::string person;
  std::int64_t imagenum = 0;
  std::string url;
  Rect rect;
  bool rect_parsed = false;  ///< false when the rect field is not four integers
  std::string md5;           ///< lower-case hex
  int line = 0;
};

std::vector<UrlRow> read_urls(const std::filesystem::path& path);

/// The rows of PubFig's sets `sets` ("both", "dev" or "eval") in `root`, dev
/// first; `dev_people`, when given, receives who is in dev.
std::vector<UrlRow> read_pubfig_sets(const std::filesystem::path& root, const std::string& sets,
                                     std::set<std::string>* dev_people = nullptr);

/// pubfig_attributes.txt or lfw_attributes.txt: the header line names the
/// attributes, each row holds one image's real-valued scores.
struct AttributeTable {
  std::vector<std::string> names;
  std::vector<ImageKey> keys;
  std::vector<float> scores;  ///< keys.size() x names.size(), row-major
};

AttributeTable read_attribute_scores(const std::filesystem::path& path);

/// Row `row` of a PubFig-format table as PubFig's 73 scores in canonical
/// order (NaN for attributes the file lacks). The file's header may order
/// them differently; a name that is not PubFig's is an error naming `path`.
class PubFigColumns {
 public:
  PubFigColumns(const AttributeTable& table, const std::filesystem::path& path);
  std::vector<float> scores(size_t row) const;

 private:
  const AttributeTable& table_;
  std::vector<size_t> column_;  ///< per PubFig attribute: its column, or SIZE_MAX
};

/// dev_people.txt / eval_people.txt: one name per line.
std::vector<std::string> read_people(const std::filesystem::path& path);

/// pubfig_labels.txt: pose, lighting and expression per image.
struct ImageLabels {
  std::string pose, lighting, expression;
};
std::map<ImageKey, ImageLabels> read_image_labels(const std::filesystem::path& path);

/// CelebA: list_attr_celeba.txt (a count line, a line of 40 names, then
/// `file +-1 ...`), list_eval_partition.txt (`file 0|1|2`) and
/// list_bbox_celeba.txt (a count line, a header, then `file x y w h`).
struct CelebaTable {
  std::vector<std::string> names;
  std::vector<std::string> files;
  std::vector<float> scores;  ///< files.size() x names.size(), +1 / -1
};
CelebaTable read_celeba_attributes(const std::filesystem::path& path);
std::map<std::string, int> read_celeba_partition(const std::filesystem::path& path);
std::map<std::string, Rect> read_celeba_boxes(const std::filesystem::path& path);
/// identity_CelebA.txt: `file identity` per line.
std::map<std::string, std::string> read_celeba_identities(const std::filesystem::path& path);

}  // namespace facet::datasets
