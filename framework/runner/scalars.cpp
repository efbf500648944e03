#include "scalars.hpp"

#include <cmath>
#include <sstream>

#include <fmt/format.h>

#include "facet/errors.hpp"
#include "text_util.hpp"

namespace facet {

void ScalarLog::add(std::string series, std::int64_t step, double value) {
  points_.push_back({std::move(series), step, value});
}

std::string ScalarLog::to_csv() const {
  std::string out = "series,step,value\n";
  for (const auto& p : points_) out += fmt::format("{},{},{}\n", csv_field(p.series), p.step, p.value);
  return out;
}

ScalarLog ScalarLog::from_csv(const std::string& text, const std::string& where) {
  ScalarLog log;
  std::istringstream in(text);
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    if (++number == 1 || line.empty()) continue;  // the header
    // The series may be quoted and hold commas; step and value never do.
    const auto last = line.rfind(',');
    const auto middle = last == std::string::npos ? std::string::npos : line.rfind(',', last - 1);
    if (middle == std::string::npos) throw Error(fmt::format("{}:{}: expected series,step,value", where, number));
    std::string series = line.substr(0, middle);
    if (series.size() >= 2 && series.front() == '"' && series.back() == '"') {
      series = series.substr(1, series.size() - 2);
      for (auto at = series.find("\"\""); at != std::string::npos; at = series.find("\"\"", at + 1))
        series.erase(at, 1);
    }
    try {
      log.add(series, std::stoll(line.substr(middle + 1, last - middle - 1)), std::stod(line.substr(last + 1)));
    } catch (const std::logic_error&) {
      throw Error(fmt::format("{}:{}: step or value is not a number", where, number));
    }
  }
  return log;
}

}  // namespace facet
