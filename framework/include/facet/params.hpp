#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "facet/export.hpp"

namespace facet {

/// The types a step parameter can have. `Choice` is a string restricted to
/// ParamSpec::choices. `Path` is a string naming a file or folder the step
/// reads: its contents (sizes and modification times) join the cache key.
enum class ParamType { Bool, Int, Float, String, Choice, IntList, FloatList, StringList, Path };

/// A parameter value as the runner parsed it from YAML.
using ParamValue = std::variant<bool, std::int64_t, double, std::string, std::vector<std::int64_t>, std::vector<double>,
                                std::vector<std::string>>;

/// One typed parameter of a step: the single table that drives YAML
/// validation, `runner describe` and the plugin's README.
struct FACET_API ParamSpec {
  std::string name;
  ParamType type = ParamType::Int;
  ParamValue default_value;
  std::string doc;
  std::optional<double> min;         ///< inclusive lower bound (numbers, and each list element)
  std::optional<double> max;         ///< inclusive upper bound
  std::vector<std::string> choices;  ///< allowed values of a Choice

  // Builders, so a step's table reads like a declaration.
  static ParamSpec integer(std::string name, std::int64_t def, std::string doc);
  static ParamSpec real(std::string name, double def, std::string doc);
  static ParamSpec flag(std::string name, bool def, std::string doc);
  static ParamSpec text(std::string name, std::string def, std::string doc);
  /// A file or folder the step reads (relative to the working directory).
  static ParamSpec path(std::string name, std::string def, std::string doc);
  static ParamSpec choice(std::string name, std::string def, std::vector<std::string> choices, std::string doc);
  static ParamSpec int_list(std::string name, std::vector<std::int64_t> def, std::string doc);
  static ParamSpec real_list(std::string name, std::vector<double> def, std::string doc);
  static ParamSpec text_list(std::string name, std::vector<std::string> def, std::string doc);
  ParamSpec&& range(std::optional<double> lo, std::optional<double> hi) &&;
};

/// Human-readable name of a type ("int", "float", "one of ...").
FACET_API std::string describe_type(const ParamSpec& spec);
/// Canonical text of a value (YAML flow syntax); used for hashing and output.
FACET_API std::string format_value(const ParamValue& value);
/// The bounds of a spec in words ("0 <= x <= 1"), empty when unbounded.
FACET_API std::string describe_range(const ParamSpec& spec);

/// Resolved parameters of one step: every declared parameter has a value.
class FACET_API Params {
 public:
  Params() = default;
  explicit Params(std::map<std::string, ParamValue> values) : values_(std::move(values)) {}

  bool get_bool(const std::string& name) const;
  std::int64_t get_int(const std::string& name) const;
  double get_float(const std::string& name) const;
  const std::string& get_string(const std::string& name) const;
  const std::vector<std::int64_t>& get_int_list(const std::string& name) const;
  const std::vector<double>& get_float_list(const std::string& name) const;
  const std::vector<std::string>& get_string_list(const std::string& name) const;

  const std::map<std::string, ParamValue>& values() const { return values_; }

 private:
  const ParamValue& at(const std::string& name) const;
  std::map<std::string, ParamValue> values_;
};

}  // namespace facet
