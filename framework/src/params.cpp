#include "facet/params.hpp"

#include <cmath>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "facet/errors.hpp"

namespace facet {

namespace {
ParamSpec make(std::string name, ParamType type, ParamValue def, std::string doc) {
  ParamSpec spec;
  spec.name = std::move(name);
  spec.type = type;
  spec.default_value = std::move(def);
  spec.doc = std::move(doc);
  return spec;
}

std::string format_double(double v) {
  if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 1e15) return fmt::format("{:.1f}", v);
  return fmt::format("{}", v);
}

std::string quote_if_needed(const std::string& s) {
  const bool plain = !s.empty() && s.find_first_of(":#,[]{}'\"\n&*!|>%@`") == std::string::npos && s.front() != ' ' &&
                     s.back() != ' ' && s.front() != '-';
  if (plain) return s;
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}
}  // namespace

ParamSpec ParamSpec::integer(std::string name, std::int64_t def, std::string doc) {
  return make(std::move(name), ParamType::Int, def, std::move(doc));
}
ParamSpec ParamSpec::real(std::string name, double def, std::string doc) {
  return make(std::move(name), ParamType::Float, def, std::move(doc));
}
ParamSpec ParamSpec::flag(std::string name, bool def, std::string doc) {
  return make(std::move(name), ParamType::Bool, def, std::move(doc));
}
ParamSpec ParamSpec::text(std::string name, std::string def, std::string doc) {
  return make(std::move(name), ParamType::String, std::move(def), std::move(doc));
}
ParamSpec ParamSpec::path(std::string name, std::string def, std::string doc) {
  return make(std::move(name), ParamType::Path, std::move(def), std::move(doc));
}
ParamSpec ParamSpec::choice(std::string name, std::string def, std::vector<std::string> choices, std::string doc) {
  auto spec = make(std::move(name), ParamType::Choice, std::move(def), std::move(doc));
  spec.choices = std::move(choices);
  return spec;
}
ParamSpec ParamSpec::int_list(std::string name, std::vector<std::int64_t> def, std::string doc) {
  return make(std::move(name), ParamType::IntList, std::move(def), std::move(doc));
}
ParamSpec ParamSpec::real_list(std::string name, std::vector<double> def, std::string doc) {
  return make(std::move(name), ParamType::FloatList, std::move(def), std::move(doc));
}
ParamSpec ParamSpec::text_list(std::string name, std::vector<std::string> def, std::string doc) {
  return make(std::move(name), ParamType::StringList, std::move(def), std::move(doc));
}

ParamSpec&& ParamSpec::range(std::optional<double> lo, std::optional<double> hi) && {
  min = lo;
  max = hi;
  return std::move(*this);
}

std::string describe_type(const ParamSpec& spec) {
  switch (spec.type) {
    case ParamType::Bool:
      return "bool";
    case ParamType::Int:
      return "int";
    case ParamType::Float:
      return "float";
    case ParamType::String:
      return "string";
    case ParamType::Path:
      return "path";
    case ParamType::Choice:
      return fmt::format("one of {}", fmt::join(spec.choices, ", "));
    case ParamType::IntList:
      return "list of int";
    case ParamType::FloatList:
      return "list of float";
    case ParamType::StringList:
      return "list of string";
  }
  return "?";
}

std::string describe_range(const ParamSpec& spec) {
  const bool integral = spec.type == ParamType::Int || spec.type == ParamType::IntList;
  auto num = [&](double v) {
    return integral ? fmt::format("{}", static_cast<std::int64_t>(v)) : fmt::format("{}", v);
  };
  if (spec.min && spec.max) return fmt::format("{} <= x <= {}", num(*spec.min), num(*spec.max));
  if (spec.min) return fmt::format("x >= {}", num(*spec.min));
  if (spec.max) return fmt::format("x <= {}", num(*spec.max));
  return {};
}

std::string format_value(const ParamValue& value) {
  struct Visitor {
    std::string operator()(bool v) const { return v ? "true" : "false"; }
    std::string operator()(std::int64_t v) const { return std::to_string(v); }
    std::string operator()(double v) const { return format_double(v); }
    std::string operator()(const std::string& v) const { return quote_if_needed(v); }
    std::string operator()(const std::vector<std::int64_t>& v) const { return fmt::format("[{}]", fmt::join(v, ", ")); }
    std::string operator()(const std::vector<double>& v) const {
      std::vector<std::string> parts;
      for (double d : v) parts.push_back(format_double(d));
      return fmt::format("[{}]", fmt::join(parts, ", "));
    }
    std::string operator()(const std::vector<std::string>& v) const {
      std::vector<std::string> parts;
      for (const auto& s : v) parts.push_back(quote_if_needed(s));
      return fmt::format("[{}]", fmt::join(parts, ", "));
    }
  };
  return std::visit(Visitor{}, value);
}

const ParamValue& Params::at(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) throw Error(fmt::format("step asked for undeclared parameter '{}'", name));
  return it->second;
}

namespace {
template <typename T>
const T& typed(const ParamValue& value, const std::string& name) {
  if (const auto* v = std::get_if<T>(&value)) return *v;
  throw Error(fmt::format("parameter '{}' read with the wrong type", name));
}
}  // namespace

bool Params::get_bool(const std::string& name) const { return typed<bool>(at(name), name); }
std::int64_t Params::get_int(const std::string& name) const { return typed<std::int64_t>(at(name), name); }
double Params::get_float(const std::string& name) const { return typed<double>(at(name), name); }
const std::string& Params::get_string(const std::string& name) const { return typed<std::string>(at(name), name); }
const std::vector<std::int64_t>& Params::get_int_list(const std::string& name) const {
  return typed<std::vector<std::int64_t>>(at(name), name);
}
const std::vector<double>& Params::get_float_list(const std::string& name) const {
  return typed<std::vector<double>>(at(name), name);
}
const std::vector<std::string>& Params::get_string_list(const std::string& name) const {
  return typed<std::vector<std::string>>(at(name), name);
}

}  // namespace facet
