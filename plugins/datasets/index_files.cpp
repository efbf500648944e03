#include "index_files.hpp"

#include <charconv>
#include <cmath>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <facet/errors.hpp>
#include <facet/pubfig.hpp>

#include "image_files.hpp"

namespace facet::datasets {
namespace fs = std::filesystem;

namespace {

std::ifstream open(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(fmt::format("{}: cannot open (does it exist?)", path.string()));
  return in;
}

[[noreturn]] void fail(const fs::path& path, int line, const std::string& what) {
  throw Error(fmt::format("{}:{}: {}", path.string(), line, what));
}

std::vector<std::string> split(const std::string& line, char sep) {
  std::vector<std::string> fields;
  size_t start = 0;
  while (true) {
    const size_t end = line.find(sep, start);
    fields.push_back(line.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) return fields;
    start = end + 1;
  }
}

/// Whitespace-separated fields (CelebA pads with runs of spaces).
std::vector<std::string> words(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

/// A text file's lines, numbered from 1, without their ending (LF or CRLF)
/// and without the UTF-8 byte-order mark some editors put at the start.
class Lines {
 public:
  explicit Lines(const fs::path& path) : in_(open(path)) {}
  bool next(std::string& line) {
    if (!std::getline(in_, line)) return false;
    ++number_;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (number_ == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);
    return true;
  }
  int number() const { return number_; }

 private:
  std::ifstream in_;
  int number_ = 0;
};

template <typename T>
bool parse_number(const std::string& text, T& value) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  return ec == std::errc() && ptr == end;
}

std::int64_t parse_int(const fs::path& path, int line, const std::string& text, const char* what) {
  std::int64_t v = 0;
  if (!parse_number(text, v)) fail(path, line, fmt::format("{} '{}' is not an integer", what, text));
  return v;
}

float parse_float(const fs::path& path, int line, const std::string& text, const char* what) {
  float v = 0;
  if (!parse_number(text, v)) fail(path, line, fmt::format("{} '{}' is not a number", what, text));
  return v;
}

/// PubFig's tab-separated files: `#` lines are comments, and the last one
/// before the data (`#\tperson\timagenum...`) names the columns.
struct TsvLine {
  int number;
  std::vector<std::string> fields;
};

struct Tsv {
  std::vector<std::string> header;
  std::vector<TsvLine> rows;
};

Tsv read_tsv(const fs::path& path) {
  Lines lines(path);
  Tsv tsv;
  std::string line;
  while (lines.next(line)) {
    const int number = lines.number();
    if (line.empty()) continue;
    if (line[0] == '#') {
      auto fields = split(line, '\t');
      if (fields.size() > 1 && tsv.rows.empty()) tsv.header.assign(fields.begin() + 1, fields.end());
      continue;
    }
    tsv.rows.push_back({number, split(line, '\t')});
  }
  return tsv;
}

void expect_fields(const fs::path& path, const TsvLine& row, size_t count, const char* columns) {
  if (row.fields.size() != count) {
    fail(path, row.number,
         fmt::format("expected {} tab-separated fields ({}), found {}", count, columns, row.fields.size()));
  }
}

bool parse_rect(const std::string& text, Rect& rect) {
  const auto parts = split(text, ',');
  return parts.size() == 4 && parse_number(parts[0], rect.x0) && parse_number(parts[1], rect.y0) &&
         parse_number(parts[2], rect.x1) && parse_number(parts[3], rect.y1);
}

}  // namespace

std::vector<UrlRow> read_urls(const fs::path& path) {
  const auto tsv = read_tsv(path);
  std::vector<UrlRow> rows;
  rows.reserve(tsv.rows.size());
  for (const auto& line : tsv.rows) {
    expect_fields(path, line, 5, "person, imagenum, url, rect, md5sum");
    UrlRow row;
    row.line = line.number;
    row.person = line.fields[0];
    try {
      person_folder(row.person);  // the downloader writes under it: it must stay inside its folder
    } catch (const Error& e) {
      fail(path, line.number, e.what());
    }
    row.imagenum = parse_int(path, line.number, line.fields[1], "imagenum");
    row.url = line.fields[2];
    row.rect_parsed = parse_rect(line.fields[3], row.rect);
    row.md5 = line.fields[4];
    for (auto& c : row.md5) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    rows.push_back(std::move(row));
  }
  return rows;
}

std::vector<UrlRow> read_pubfig_sets(const fs::path& root, const std::string& sets, std::set<std::string>* dev_people) {
  std::vector<UrlRow> rows;
  for (const std::string set : {"dev", "eval"}) {
    if (sets != "both" && sets != set) continue;
    auto part = read_urls(root / (set + "_urls.txt"));
    if (set == "dev" && dev_people != nullptr) {
      for (const auto& r : part) dev_people->insert(r.person);
    }
    rows.insert(rows.end(), std::make_move_iterator(part.begin()), std::make_move_iterator(part.end()));
  }
  return rows;
}

AttributeTable read_attribute_scores(const fs::path& path) {
  const auto tsv = read_tsv(path);
  if (tsv.header.size() < 3 || tsv.header[0] != "person" || tsv.header[1] != "imagenum") {
    throw Error(
        fmt::format("{}: no header line '#<TAB>person<TAB>imagenum<TAB>attribute...' before the data", path.string()));
  }
  AttributeTable table;
  table.names.assign(tsv.header.begin() + 2, tsv.header.end());
  table.keys.reserve(tsv.rows.size());
  table.scores.reserve(tsv.rows.size() * table.names.size());
  for (const auto& line : tsv.rows) {
    expect_fields(path, line, tsv.header.size(), "person, imagenum and one score per attribute");
    table.keys.emplace_back(line.fields[0], parse_int(path, line.number, line.fields[1], "imagenum"));
    for (size_t k = 2; k < line.fields.size(); ++k) {
      table.scores.push_back(parse_float(path, line.number, line.fields[k], "score"));
    }
  }
  return table;
}

PubFigColumns::PubFigColumns(const AttributeTable& table, const fs::path& path)
    : table_(table), column_(pubfig::kNumAttributes, SIZE_MAX) {
  for (size_t k = 0; k < table.names.size(); ++k) {
    const int i = pubfig::index_of(table.names[k]);
    if (i < 0) {
      throw Error(
          fmt::format("{}: attribute '{}' in the header is not one of PubFig's 73", path.string(), table.names[k]));
    }
    column_[static_cast<size_t>(i)] = k;
  }
}

std::vector<float> PubFigColumns::scores(size_t row) const {
  std::vector<float> out(pubfig::kNumAttributes, std::nanf(""));
  for (size_t a = 0; a < out.size(); ++a) {
    if (column_[a] != SIZE_MAX) out[a] = table_.scores[row * table_.names.size() + column_[a]];
  }
  return out;
}

std::vector<std::string> read_people(const fs::path& path) {
  const auto tsv = read_tsv(path);
  std::vector<std::string> people;
  for (const auto& line : tsv.rows) {
    expect_fields(path, line, 1, "person");
    people.push_back(line.fields[0]);
  }
  return people;
}

std::map<ImageKey, ImageLabels> read_image_labels(const fs::path& path) {
  const auto tsv = read_tsv(path);
  std::map<ImageKey, ImageLabels> labels;
  for (const auto& line : tsv.rows) {
    expect_fields(path, line, 5, "person, imagenum, pose, lighting, expression");
    const ImageKey key{line.fields[0], parse_int(path, line.number, line.fields[1], "imagenum")};
    labels[key] = {line.fields[2], line.fields[3], line.fields[4]};
  }
  return labels;
}

CelebaTable read_celeba_attributes(const fs::path& path) {
  Lines lines(path);
  std::string line;
  std::int64_t declared = -1;
  CelebaTable table;
  while (lines.next(line)) {
    const int number = lines.number();
    const auto fields = words(line);
    if (fields.empty()) continue;
    if (declared < 0) {
      declared = parse_int(path, number, fields[0], "the image count");
    } else if (table.names.empty()) {
      table.names = fields;
    } else {
      if (fields.size() != table.names.size() + 1) {
        fail(path, number,
             fmt::format("expected a file name and {} values, found {} fields", table.names.size(), fields.size()));
      }
      table.files.push_back(fields[0]);
      for (size_t k = 1; k < fields.size(); ++k) {
        const auto v = parse_int(path, number, fields[k], "attribute value");
        if (v != 1 && v != -1) fail(path, number, fmt::format("attribute value {} is neither 1 nor -1", v));
        table.scores.push_back(static_cast<float>(v));
      }
    }
  }
  if (table.names.empty()) throw Error(fmt::format("{}: no attribute names (line 2)", path.string()));
  if (static_cast<std::int64_t>(table.files.size()) != declared) {
    throw Error(fmt::format("{}: the first line declares {} images, the file holds {} (truncated?)", path.string(),
                            declared, table.files.size()));
  }
  return table;
}

std::map<std::string, int> read_celeba_partition(const fs::path& path) {
  Lines lines(path);
  std::map<std::string, int> partition;
  std::string line;
  while (lines.next(line)) {
    const int number = lines.number();
    const auto fields = words(line);
    if (fields.empty()) continue;
    if (fields.size() != 2) fail(path, number, "expected 'file partition'");
    const auto p = parse_int(path, number, fields[1], "partition");
    if (p < 0 || p > 2) fail(path, number, fmt::format("partition {} is not 0 (train), 1 (val) or 2 (test)", p));
    partition[fields[0]] = static_cast<int>(p);
  }
  return partition;
}

std::map<std::string, Rect> read_celeba_boxes(const fs::path& path) {
  Lines lines(path);
  std::map<std::string, Rect> boxes;
  std::string line;
  while (lines.next(line)) {
    const int number = lines.number();
    const auto fields = words(line);
    if (number <= 2 || fields.empty()) continue;  // the count and the column names
    if (fields.size() != 5) fail(path, number, "expected 'image_id x_1 y_1 width height'");
    Rect r;
    r.x0 = static_cast<int>(parse_int(path, number, fields[1], "x_1"));
    r.y0 = static_cast<int>(parse_int(path, number, fields[2], "y_1"));
    r.x1 = r.x0 + static_cast<int>(parse_int(path, number, fields[3], "width"));
    r.y1 = r.y0 + static_cast<int>(parse_int(path, number, fields[4], "height"));
    boxes[fields[0]] = r;
  }
  return boxes;
}

std::map<std::string, std::string> read_celeba_identities(const fs::path& path) {
  Lines lines(path);
  std::map<std::string, std::string> identity;
  std::string line;
  while (lines.next(line)) {
    const int number = lines.number();
    const auto fields = words(line);
    if (fields.empty()) continue;
    if (fields.size() != 2) fail(path, number, "expected 'file identity'");
    identity[fields[0]] = fields[1];
  }
  return identity;
}

}  // namespace facet::datasets
