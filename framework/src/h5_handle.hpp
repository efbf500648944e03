#pragma once

// Small RAII layer over the HDF5 C API, shared by the artifact file reader
// and writer. HDF5 is not built thread-safe here: every call goes through
// h5_lock().

#include <hdf5.h>

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include <torch/types.h>

#include "facet/artifact.hpp"

namespace facet::h5 {

std::recursive_mutex& h5_lock();

/// Owns one HDF5 identifier and closes it with the matching H5?close.
class Handle {
 public:
  Handle() = default;
  explicit Handle(hid_t id) : id_(id) {}
  Handle(Handle&& other) noexcept : id_(other.release()) {}
  Handle& operator=(Handle&& other) noexcept;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle();
  hid_t get() const { return id_; }
  hid_t release();
  explicit operator bool() const { return id_ >= 0; }

 private:
  hid_t id_ = -1;
};

/// Throws facet::Error("<what>: <HDF5 detail>") when `id` or `status` is negative.
hid_t check(hid_t id, const std::string& what);
void check_status(herr_t status, const std::string& what);
/// Throws facet::DamagedFile naming `file` when reading a dataset failed.
void check_read(herr_t status, const std::filesystem::path& file, const std::string& what);

/// HDF5 memory type of a torch dtype (bool is stored as uint8).
hid_t mem_type(torch::ScalarType dtype);
/// torch dtype of a stored dataset type.
torch::ScalarType torch_type(hid_t h5type, const std::string& where);

void write_attr(hid_t obj, const std::string& name, const AttrValue& value);
AttrValue read_attr(hid_t obj, const std::string& name, const std::string& where);

}  // namespace facet::h5
