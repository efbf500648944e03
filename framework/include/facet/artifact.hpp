#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include <torch/types.h>

#include "facet/export.hpp"

namespace facet {

/// An attribute of an artifact: a number, a string or a list of strings.
using AttrValue = std::variant<std::int64_t, double, std::string, std::vector<std::string>>;

/// A tensor that lives outside memory (an HDF5 dataset) and is read in row
/// slices. Rows are the first dimension.
class FACET_API TensorSource {
 public:
  virtual ~TensorSource() = default;
  virtual std::vector<std::int64_t> shape() const = 0;
  virtual torch::ScalarType dtype() const = 0;
  /// Rows [begin, end) as a contiguous CPU tensor.
  virtual torch::Tensor read_rows(std::int64_t begin, std::int64_t end) const = 0;
  /// Where the data lives, for messages ("cache/x.h5:/images/pixels").
  virtual std::string location() const = 0;
};

/// What flows between steps: named tensors plus named attributes. Maps
/// one-to-one onto an HDF5 group (tensors as datasets, attributes as HDF5
/// attributes). Tensors are either in memory or stored; a stored tensor is
/// only read when asked for, whole (get) or by rows (rows).
class FACET_API Artifact {
 public:
  void set(const std::string& name, torch::Tensor tensor);
  void set(const std::string& name, std::shared_ptr<const TensorSource> stored);

  bool has(const std::string& name) const;
  std::vector<std::string> tensor_names() const;
  /// The whole tensor on the CPU (a stored tensor is read in full).
  torch::Tensor get(const std::string& name) const;
  /// Rows [begin, end) of the tensor.
  torch::Tensor rows(const std::string& name, std::int64_t begin, std::int64_t end) const;
  std::vector<std::int64_t> shape(const std::string& name) const;
  torch::ScalarType dtype(const std::string& name) const;
  /// Size of the first dimension.
  std::int64_t num_rows(const std::string& name) const;
  /// The stored source of a tensor, or nullptr when it is in memory.
  std::shared_ptr<const TensorSource> stored(const std::string& name) const;

  void set_attr(const std::string& name, AttrValue value);
  bool has_attr(const std::string& name) const;
  const AttrValue& attr(const std::string& name) const;
  std::int64_t attr_int(const std::string& name) const;
  double attr_float(const std::string& name) const;
  const std::string& attr_string(const std::string& name) const;
  const std::vector<std::string>& attr_strings(const std::string& name) const;
  const std::map<std::string, AttrValue>& attrs() const { return attrs_; }

 private:
  using Entry = std::variant<torch::Tensor, std::shared_ptr<const TensorSource>>;
  const Entry& entry(const std::string& name) const;

  std::map<std::string, Entry> tensors_;
  std::map<std::string, AttrValue> attrs_;
};

/// A step's named input or output artifacts.
using Artifacts = std::map<std::string, Artifact>;

}  // namespace facet
