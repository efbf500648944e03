#include "facet/artifact.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "facet/errors.hpp"

namespace facet {

void Artifact::set(const std::string& name, torch::Tensor tensor) { tensors_[name] = std::move(tensor); }

void Artifact::set(const std::string& name, std::shared_ptr<const TensorSource> stored) {
  tensors_[name] = std::move(stored);
}

bool Artifact::has(const std::string& name) const { return tensors_.count(name) != 0; }

std::vector<std::string> Artifact::tensor_names() const {
  std::vector<std::string> names;
  for (const auto& entry : tensors_) names.push_back(entry.first);
  return names;
}

const Artifact::Entry& Artifact::entry(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) {
    throw Error(fmt::format("artifact has no tensor '{}' (it has: {})", name, fmt::join(tensor_names(), ", ")));
  }
  return it->second;
}

torch::Tensor Artifact::get(const std::string& name) const {
  const auto& e = entry(name);
  if (const auto* t = std::get_if<torch::Tensor>(&e)) return *t;
  const auto& source = std::get<std::shared_ptr<const TensorSource>>(e);
  const auto shape = source->shape();
  return source->read_rows(0, shape.empty() ? 0 : shape[0]);
}

torch::Tensor Artifact::rows(const std::string& name, std::int64_t begin, std::int64_t end) const {
  const auto& e = entry(name);
  if (const auto* t = std::get_if<torch::Tensor>(&e)) return t->slice(0, begin, end);
  return std::get<std::shared_ptr<const TensorSource>>(e)->read_rows(begin, end);
}

std::vector<std::int64_t> Artifact::shape(const std::string& name) const {
  const auto& e = entry(name);
  if (const auto* t = std::get_if<torch::Tensor>(&e)) return t->sizes().vec();
  return std::get<std::shared_ptr<const TensorSource>>(e)->shape();
}

torch::ScalarType Artifact::dtype(const std::string& name) const {
  const auto& e = entry(name);
  if (const auto* t = std::get_if<torch::Tensor>(&e)) return t->scalar_type();
  return std::get<std::shared_ptr<const TensorSource>>(e)->dtype();
}

std::int64_t Artifact::num_rows(const std::string& name) const {
  const auto s = shape(name);
  if (s.empty()) throw Error(fmt::format("tensor '{}' is a scalar and has no rows", name));
  return s[0];
}

std::shared_ptr<const TensorSource> Artifact::stored(const std::string& name) const {
  const auto& e = entry(name);
  if (const auto* s = std::get_if<std::shared_ptr<const TensorSource>>(&e)) return *s;
  return nullptr;
}

void Artifact::set_attr(const std::string& name, AttrValue value) { attrs_[name] = std::move(value); }

bool Artifact::has_attr(const std::string& name) const { return attrs_.count(name) != 0; }

const AttrValue& Artifact::attr(const std::string& name) const {
  auto it = attrs_.find(name);
  if (it == attrs_.end()) {
    std::vector<std::string> names;
    for (const auto& a : attrs_) names.push_back(a.first);
    throw Error(fmt::format("artifact has no attribute '{}' (it has: {})", name, fmt::join(names, ", ")));
  }
  return it->second;
}

namespace {
template <typename T>
const T& typed(const AttrValue& value, const std::string& name, const char* wanted) {
  if (const auto* v = std::get_if<T>(&value)) return *v;
  throw Error(fmt::format("attribute '{}' is not {}", name, wanted));
}
}  // namespace

std::int64_t Artifact::attr_int(const std::string& name) const {
  return typed<std::int64_t>(attr(name), name, "an integer");
}

double Artifact::attr_float(const std::string& name) const {
  const auto& value = attr(name);
  if (const auto* i = std::get_if<std::int64_t>(&value)) return static_cast<double>(*i);
  return typed<double>(value, name, "a number");
}

const std::string& Artifact::attr_string(const std::string& name) const {
  return typed<std::string>(attr(name), name, "a string");
}

const std::vector<std::string>& Artifact::attr_strings(const std::string& name) const {
  return typed<std::vector<std::string>>(attr(name), name, "a list of strings");
}

}  // namespace facet
